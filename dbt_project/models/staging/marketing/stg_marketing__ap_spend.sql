-- Grain: one row per A&P spend line (spend_id) committed on an account.
with

source as (

    select * from {{ source('raw', 'ap_spend') }}

),

renamed as (

    select
        -- ids
        spend_id,
        account_id,
        campaign_id,

        -- categories
        spend_type,
        currency,

        -- measures
        amount,

        -- dates
        spend_date,
        {{ month_start('spend_date') }} as spend_month,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
