-- Grain: one row per field survey (survey_id) of an account by a rep.
with

source as (

    select * from {{ source('raw', 'field_surveys') }}

),

renamed as (

    select
        -- ids
        survey_id,
        account_id,
        rep_id,

        -- measures
        category_spend_estimate as category_spend_estimate_eur,
        competitor_brands_listed,
        shelf_share_pct,
        staff_count,
        quality_score,

        -- dates
        survey_date,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
