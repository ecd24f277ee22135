-- Grain: one row per active CRM account (account_id): the shared golden record of the account
-- with its allocation (territory, owner rep) and what the other sources know about it.
-- Enriched fields come from the first source that has a value, in this precedence (each
-- with a <field>_source column naming it; null when no source has a value):
--   crm > external (business register record linked to the account) > online (linked
--   listings: maps before social, then the most confident link, then the latest update)
--   > distributor (customer details reported on sell-out lines of linked codes).
--   siret        crm > external > distributor
--   phone        crm > online > distributor (the register carries no phone)
--   website      crm > online
--   coordinates  crm > online (latitude and longitude taken together from one source)
--   employees    external > survey (the CRM carries no headcount; int_accounts__potential)
--   opening_status crm (account_status; only active accounts are published)
-- CRM duplicates: linking.crm_duplicate_candidates (pairs of CRM accounts the linking engine
-- found to be one outlet). The master of a pair is the active, then the older account, then
-- the smaller id (the rule the linking engine links by); the other one is flagged with
-- crm_duplicate_of_account_id.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where is_active

),

all_accounts as (

    select * from {{ ref('stg_crm__accounts') }}

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

distributor_customers as (

    select * from {{ ref('int_accounts__distributor_links') }}
    where account_id is not null

),

distributor_links as (

    select
        account_id,
        count(*) as linked_distributor_codes_count,
        count(distinct distributor_id) as linked_distributors_count,
        -- the most active code's details first
        arg_max(customer_siret, line_count) as distributor_siret,
        arg_max(customer_phone_normalized, line_count) as distributor_phone
    from distributor_customers
    group by account_id

),

online_ranked as (

    select
        *,
        row_number() over (
            partition by account_id
            order by
                case when platform = 'maps' then 0 else 1 end asc,
                match_confidence desc nulls last,
                updated_at desc nulls last,
                listing_id asc
        ) as listing_rank
    from {{ ref('int_accounts__online_links') }}
    where account_id is not null

),

online_links as (

    select
        account_id,
        count(*) as online_listings_count,
        arg_min(phone, listing_rank) filter (where phone is not null) as online_phone,
        arg_min(website, listing_rank) filter (where website is not null) as online_website,
        arg_min(latitude, listing_rank) filter (
            where latitude is not null and longitude is not null
        ) as online_latitude,
        arg_min(longitude, listing_rank) filter (
            where latitude is not null and longitude is not null
        ) as online_longitude,
        max(last_activity_date) as last_online_activity_date
    from online_ranked
    group by account_id

),

external_ranked as (

    select
        *,
        row_number() over (
            partition by account_id
            order by match_confidence desc nulls last, loaded_at desc, external_id asc
        ) as record_rank
    from {{ ref('int_accounts__external_links') }}
    where account_id is not null

),

external_links as (

    select
        account_id,
        count(*) as external_records_count,
        arg_min(siret, record_rank) filter (where siret is not null) as external_siret
    from external_ranked
    group by account_id

),

duplicate_pairs as (

    select
        pairs.account_id as first_account_id,
        pairs.duplicate_account_id as second_account_id,
        -- the master: active, then the older record, then the smaller id
        case
            when
                coalesce(first_account.is_active, false) <> coalesce(second_account.is_active, false)
                then
                    case
                        when first_account.is_active then pairs.account_id
                        else pairs.duplicate_account_id
                    end
            when
                coalesce(first_account.created_date, date '9999-12-31')
                <> coalesce(second_account.created_date, date '9999-12-31')
                then
                    case
                        when
                            coalesce(first_account.created_date, date '9999-12-31')
                            < coalesce(second_account.created_date, date '9999-12-31')
                            then pairs.account_id
                        else pairs.duplicate_account_id
                    end
            else least(pairs.account_id, pairs.duplicate_account_id)
        end as master_account_id
    from ({{ linking_table('crm_duplicate_candidates', {
        'account_id': dbt.type_string(),
        'duplicate_account_id': dbt.type_string(),
        'evidence': dbt.type_string()
    }) }}) as pairs
    left join all_accounts as first_account on pairs.account_id = first_account.account_id
    left join all_accounts as second_account
        on pairs.duplicate_account_id = second_account.account_id

),

duplicate_members as (

    select
        first_account_id as account_id,
        second_account_id as other_account_id,
        master_account_id
    from duplicate_pairs

    union all

    select
        second_account_id as account_id,
        first_account_id as other_account_id,
        master_account_id
    from duplicate_pairs

),

duplicates as (

    select
        account_id,
        count(*) as crm_duplicate_count,
        min(case when master_account_id <> account_id then master_account_id end)
            as crm_duplicate_of_account_id
    from duplicate_members
    group by account_id

),

enriched as (

    select
        accounts.*,
        territories.territory_name,
        territories.region,
        reps.rep_role as owner_rep_role,
        potential.size_band,
        potential.employees,
        potential.size_source,
        distributor_links.linked_distributor_codes_count,
        distributor_links.linked_distributors_count,
        distributor_links.distributor_siret,
        distributor_links.distributor_phone,
        online_links.online_listings_count,
        online_links.online_phone,
        online_links.online_website,
        online_links.online_latitude,
        online_links.online_longitude,
        online_links.last_online_activity_date,
        external_links.external_records_count,
        external_links.external_siret,
        duplicates.crm_duplicate_count,
        duplicates.crm_duplicate_of_account_id,
        accounts.latitude is not null and accounts.longitude is not null as has_crm_coordinates
    from accounts
    left join territories on accounts.territory_id = territories.territory_id
    left join reps on accounts.owner_rep_id = reps.rep_id
    left join potential on accounts.account_id = potential.account_id
    left join distributor_links on accounts.account_id = distributor_links.account_id
    left join online_links on accounts.account_id = online_links.account_id
    left join external_links on accounts.account_id = external_links.account_id
    left join duplicates on accounts.account_id = duplicates.account_id

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(account_name as {{ dbt.type_string() }}) as account_name,
        cast(legal_name as {{ dbt.type_string() }}) as legal_name,
        cast(coalesce(siret, external_siret, distributor_siret) as {{ dbt.type_string() }})
            as siret,
        cast(case
            when siret is not null then 'crm'
            when external_siret is not null then 'external'
            when distributor_siret is not null then 'distributor'
        end as {{ dbt.type_string() }}) as siret_source,
        cast(coalesce(phone, online_phone, distributor_phone) as {{ dbt.type_string() }})
            as phone,
        cast(case
            when phone is not null then 'crm'
            when online_phone is not null then 'online'
            when distributor_phone is not null then 'distributor'
        end as {{ dbt.type_string() }}) as phone_source,
        cast(coalesce(website, online_website) as {{ dbt.type_string() }}) as website,
        cast(case
            when website is not null then 'crm'
            when online_website is not null then 'online'
        end as {{ dbt.type_string() }}) as website_source,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(postcode as {{ dbt.type_string() }}) as postcode,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(department_code as {{ dbt.type_string() }}) as department_code,
        cast(
            case when has_crm_coordinates then latitude else online_latitude end
            as {{ type_double() }}
        ) as latitude,
        cast(
            case when has_crm_coordinates then longitude else online_longitude end
            as {{ type_double() }}
        ) as longitude,
        cast(case
            when has_crm_coordinates then 'crm'
            when online_latitude is not null then 'online'
        end as {{ dbt.type_string() }}) as coordinates_source,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(brand_model as {{ dbt.type_string() }}) as brand_model,
        cast(is_direct as {{ dbt.type_boolean() }}) as is_direct,
        cast(employees as {{ dbt.type_bigint() }}) as employees,
        cast(size_source as {{ dbt.type_string() }}) as employees_source,
        cast(size_band as {{ dbt.type_string() }}) as size_band,
        cast(case when is_active then 'open' else account_status end as {{ dbt.type_string() }})
            as opening_status,
        cast('crm' as {{ dbt.type_string() }}) as opening_status_source,
        cast(last_online_activity_date as date) as last_online_activity_date,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(territory_name as {{ dbt.type_string() }}) as territory_name,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(owner_rep_id as {{ dbt.type_string() }}) as owner_rep_id,
        cast(owner_rep_role as {{ dbt.type_string() }}) as owner_rep_role,
        cast(created_date as date) as created_date,
        cast(coalesce(linked_distributor_codes_count, 0) as {{ dbt.type_bigint() }})
            as linked_distributor_codes_count,
        cast(coalesce(linked_distributors_count, 0) as {{ dbt.type_bigint() }})
            as linked_distributors_count,
        cast(coalesce(online_listings_count, 0) > 0 as {{ dbt.type_boolean() }})
            as has_online_presence,
        cast(coalesce(online_listings_count, 0) as {{ dbt.type_bigint() }})
            as online_listings_count,
        cast(coalesce(external_records_count, 0) > 0 as {{ dbt.type_boolean() }})
            as has_external_record,
        cast(coalesce(crm_duplicate_count, 0) > 0 as {{ dbt.type_boolean() }})
            as has_crm_duplicate,
        cast(crm_duplicate_of_account_id as {{ dbt.type_string() }})
            as crm_duplicate_of_account_id,
        cast(updated_at as {{ dbt.type_timestamp() }}) as crm_updated_at
    from enriched

)

select * from final
