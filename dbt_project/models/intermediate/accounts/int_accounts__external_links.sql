-- Grain: one row per external firmographics record (external_id), with the CRM account it
-- describes: siret first, then normalized registered name + postcode. Unmatched records are
-- establishments of the zone that are not in the CRM.
with

firmographics as (

    select * from {{ ref('stg_external__firmographics') }}

),

keyed as (

    select
        *,
        {{ street_number('address') }} as street_number,
        siret as siret_key,
        case
            when {{ normalize_name('company_name') }} is not null and postcode is not null
                then {{ dbt.concat([normalize_name('company_name'), "'|'", "postcode"]) }}
        end as name_postcode_key,
        case
            when
                {{ normalize_name('company_name') }} is not null
                and postcode is not null
                and {{ street_number('address') }} is not null
                then {{ dbt.concat([
                    normalize_name('company_name'), "'|'", "postcode", "'|'", street_number('address')
                ]) }}
        end as name_postcode_number_key
    from firmographics

),

linked as (

    select
        keyed.external_id,
        keyed.siret,
        keyed.company_name,
        keyed.postcode,
        keyed.department_code,
        keyed.naf_code,
        keyed.employees,
        keyed.revenue_band,
        keyed.estimated_category_spend_eur,
        keyed.zone_population,
        keyed.loaded_at,
        {{ crm_link_columns(['siret', 'name_postcode_number', 'name_postcode']) }}
    from keyed
    {{ crm_link_joins(['siret', 'name_postcode_number', 'name_postcode']) }}

),

final as (

    select
        *,
        account_id is not null as is_linked
    from linked

)

select * from final
