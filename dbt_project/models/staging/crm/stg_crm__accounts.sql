-- Grain: one row per CRM account (account_id). The CRM export is a snapshot (each load
-- replaces the previous one) and ingestion enforces key uniqueness; the unique test below
-- stops the build if a duplicate ever reaches raw.
with

source as (

    select * from {{ source('raw', 'crm_accounts') }}

),

renamed as (

    select
        -- ids
        trim(account_id) as account_id,
        nullif(trim(siret), '') as siret,
        nullif(upper(trim(vat_number)), '') as vat_number,
        nullif(trim(owner_rep_id), '') as owner_rep_id,
        nullif(trim(territory_id), '') as territory_id,

        -- names and contact
        trim(account_name) as account_name,
        nullif(trim(legal_name), '') as legal_name,
        nullif(trim(phone), '') as phone,
        nullif(trim(website), '') as website,
        nullif(trim(email), '') as email,

        -- location
        trim(address) as address,
        trim(postcode) as postcode,
        trim(city) as city,
        {{ department_code('trim(postcode)') }} as department_code,
        latitude,
        longitude,

        -- categories
        channel,
        brand_model,
        is_direct,
        status as account_status,
        coalesce(status = 'active', false) as is_active,

        -- dates
        created_date,
        updated_at,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
