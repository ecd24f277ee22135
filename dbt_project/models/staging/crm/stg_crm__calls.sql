-- Grain: one row per call (call_id): a visit, phone call, e-mail or video call on an account.
with

source as (

    select * from {{ source('raw', 'call_log') }}

),

renamed as (

    select
        -- ids
        call_id,
        account_id,
        rep_id as caller_id,

        -- categories
        resource_type,
        contact_mode,
        outcome,
        contact_mode = 'visit' as is_visit,
        resource_type = 'distributor_rep' as is_distributor_call,

        -- measures
        duration_minutes,

        -- dates
        call_date,
        {{ month_start('call_date') }} as call_month,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
