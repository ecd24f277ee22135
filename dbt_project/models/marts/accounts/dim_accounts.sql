-- Grain: one row per active CRM account (account_id): the shared golden record of the account
-- with its allocation (territory, owner rep) and what the other sources know about it.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where is_active

),

territories as (

    select * from {{ ref('stg_sales_force__territories') }}

),

reps as (

    select * from {{ ref('stg_sales_force__reps') }}

),

potential as (

    select * from {{ ref('int_accounts__potential') }}

),

distributor_links as (

    select
        account_id,
        count(*) as linked_distributor_codes_count,
        count(distinct distributor_id) as linked_distributors_count
    from {{ ref('int_accounts__distributor_links') }}
    where account_id is not null
    group by account_id

),

online_links as (

    select
        account_id,
        count(*) as online_listings_count
    from {{ ref('int_accounts__online_links') }}
    where account_id is not null
    group by account_id

),

external_links as (

    select
        account_id,
        count(*) as external_records_count
    from {{ ref('int_accounts__external_links') }}
    where account_id is not null
    group by account_id

),

final as (

    select
        cast(accounts.account_id as {{ dbt.type_string() }}) as account_id,
        cast(accounts.account_name as {{ dbt.type_string() }}) as account_name,
        cast(accounts.legal_name as {{ dbt.type_string() }}) as legal_name,
        cast(accounts.siret as {{ dbt.type_string() }}) as siret,
        cast(accounts.address as {{ dbt.type_string() }}) as address,
        cast(accounts.postcode as {{ dbt.type_string() }}) as postcode,
        cast(accounts.city as {{ dbt.type_string() }}) as city,
        cast(accounts.department_code as {{ dbt.type_string() }}) as department_code,
        cast(accounts.latitude as {{ type_double() }}) as latitude,
        cast(accounts.longitude as {{ type_double() }}) as longitude,
        cast(accounts.channel as {{ dbt.type_string() }}) as channel,
        cast(accounts.brand_model as {{ dbt.type_string() }}) as brand_model,
        cast(accounts.is_direct as {{ dbt.type_boolean() }}) as is_direct,
        cast(potential.size_band as {{ dbt.type_string() }}) as size_band,
        cast(accounts.territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(territories.territory_name as {{ dbt.type_string() }}) as territory_name,
        cast(territories.region as {{ dbt.type_string() }}) as region,
        cast(accounts.owner_rep_id as {{ dbt.type_string() }}) as owner_rep_id,
        cast(reps.rep_role as {{ dbt.type_string() }}) as owner_rep_role,
        cast(accounts.created_date as date) as created_date,
        cast(coalesce(distributor_links.linked_distributor_codes_count, 0) as {{ dbt.type_bigint() }})
            as linked_distributor_codes_count,
        cast(coalesce(distributor_links.linked_distributors_count, 0) as {{ dbt.type_bigint() }})
            as linked_distributors_count,
        cast(coalesce(online_links.online_listings_count, 0) > 0 as {{ dbt.type_boolean() }})
            as has_online_presence,
        cast(coalesce(online_links.online_listings_count, 0) as {{ dbt.type_bigint() }})
            as online_listings_count,
        cast(coalesce(external_links.external_records_count, 0) > 0 as {{ dbt.type_boolean() }})
            as has_external_record,
        cast(accounts.updated_at as {{ dbt.type_timestamp() }}) as crm_updated_at
    from accounts
    left join territories on accounts.territory_id = territories.territory_id
    left join reps on accounts.owner_rep_id = reps.rep_id
    left join potential on accounts.account_id = potential.account_id
    left join distributor_links on accounts.account_id = distributor_links.account_id
    left join online_links on accounts.account_id = online_links.account_id
    left join external_links on accounts.account_id = external_links.account_id

)

select * from final
