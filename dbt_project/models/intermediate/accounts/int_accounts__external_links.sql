-- Grain: one row per external firmographics record (external_id), with the CRM account it
-- describes. The account-linking engine's crosswalk (source linking.account_crosswalk:
-- siret key, then Splink on name + address + postcode + city, the human overrides file
-- examples/sample_company/link_overrides.csv, links kept from night to night) decides for
-- every record it has. A record it does not have (a database built without the linking
-- step) falls back to deterministic rules: siret, then normalized registered name +
-- postcode + house number, then name + postcode (refused when house numbers differ).
-- Unmatched records are establishments of the zone that are not in the CRM.
with

firmographics as (

    select * from {{ ref('stg_external__firmographics') }}

),

keyed as (

    select
        *,
        {{ street_number('address') }} as street_number,
        siret as siret_key,
        {{ name_postcode_keys('company_name', 'postcode', 'address') }}
    from firmographics

),

linked as (

    select
        keyed.external_id,
        keyed.siret,
        keyed.company_name,
        keyed.address,
        keyed.postcode,
        keyed.city,
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

crosswalk as (

    select
        source_code as external_id,
        account_id,
        {{ crosswalk_match_method() }} as match_method,
        match_rule,
        match_probability,
        evidence
    from ({{ account_crosswalk('external') }}) as crosswalk_rows

),

joined as (

    -- the deterministic decision stands only when the crosswalk has no row for the record
    select
        linked.*,
        {{ crosswalk_columns('external_id') }}
    from linked
    left join crosswalk on linked.external_id = crosswalk.external_id

),

decided as (

    select
        external_id,
        siret,
        company_name,
        address,
        postcode,
        city,
        department_code,
        naf_code,
        employees,
        revenue_band,
        estimated_category_spend_eur,
        zone_population,
        loaded_at,
        {{ link_decision_columns() }},
        has_conflicting_keys,
        has_ambiguous_candidates
    from joined

),

final as (

    select
        *,
        account_id is not null as is_linked
    from decided

)

select * from final
