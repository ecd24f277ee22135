-- Grain: one row per external establishment record (external_id), from the vendor snapshot.
with

source as (

    select * from {{ source('raw', 'external_firmographics') }}

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

    from source

)

select * from renamed
