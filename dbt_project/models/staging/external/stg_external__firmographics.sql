-- Grain: one row per external establishment record (external_id), latest delivery.
with

source as (

    select * from {{ source('raw', 'external_firmographics') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by external_id
            order by _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank
    from source

),

renamed as (

    select
        -- ids
        external_id,
        nullif(trim(siret), '') as siret,
        naf_code,

        -- descriptive
        company_name,
        nullif(trim(address), '') as address,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(city), '') as city,
        {{ department_code("nullif(trim(postcode), '')") }} as department_code,

        -- categories
        revenue_band,

        -- measures
        employees,
        estimated_category_spend as estimated_category_spend_eur,
        zone_population,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from versioned
    where version_rank = 1

)

select * from renamed
