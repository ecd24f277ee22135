-- Grain: one row per external firmographics record (external_id), with the CRM account it
-- describes. The account-linking engine's crosswalk (source linking.account_crosswalk:
-- siret key, then Splink on name + address + postcode + city, the human overrides file
-- examples/sample_company/link_overrides.csv, links kept from night to night) decides for
-- every record it has. A record it does not have (a database built without the linking
-- step) falls back to deterministic rules: siret, then normalized registered name +
-- postcode + house number, then name + postcode (refused when house numbers differ).
-- Unmatched records are establishments of the zone that are not in the CRM. The record's
-- matching keys besides its siret are kept in the last columns.
--
-- Incremental by record (macros/incremental_links.sql, macros/incremental_external_links.sql):
-- normalizing 654 k records and joining them to the CRM's keys took 1.5 s at 1M accounts
-- each night. The register arrives as a snapshot that replaces every record (and its
-- loaded_at): a night that loads one rebuilds every record. Other nights recompute only the
-- records whose crosswalk row changed, or which carry a matching key whose CRM account,
-- house number or ambiguity changed in int_accounts__match_keys (redecided, from their
-- stored row and keys). Everything is rebuilt as well when the model's SQL, the macros it
-- renders (link_confidence among them) or the staging view changed, there is no state, or
-- on --full-refresh. The result equals a full build's (tests/test_incremental_nights.py).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='external_id',
    on_schema_change='sync_all_columns',
    pre_hook="{{ external_links_pre_hook() }}",
    post_hook="{{ external_links_post_hook() }}",
) }}
{%- set key_types = external_links_key_types() %}
{%- set plan = external_links_plan(external_links_version()) %}
{%- set record_columns = [
    'external_id', 'siret', 'company_name', 'address', 'postcode', 'city', 'department_code',
    'naf_code', 'employees', 'revenue_band', 'estimated_category_spend_eur', 'zone_population',
    'loaded_at',
] %}
{%- set key_columns = ['street_number', 'name_postcode_number_key', 'name_postcode_key'] %}
with

firmographics as (

    -- none on a night that did not load the register again
    select * from {{ ref('stg_external__firmographics') }}
    where {{ 'true' if plan['rebuilds_all'] else 'false' }}

),

refreshed as (

    select
        *,
        {{ external_links_key_columns() }}
    from firmographics

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
{{ link_redecide_ctes(
    plan, key_types, ['external_id'], 'stored.external_id = crosswalk.external_id',
    'external_id', external_links_stored_keys()) }}

record_keys as (

    select
        {{ (record_columns + key_columns) | join(',\n        ') }}
    from refreshed
    {{- link_stored_records(plan, record_columns + key_columns, ['external_id']) }}

),

keyed as (

    select
        *,
        siret as siret_key
    from record_keys

),

linked as (

    select
        keyed.{{ (record_columns + key_columns) | join(',\n        keyed.') }},
        {{ crm_link_columns(key_types) }}
    from keyed
    {{ crm_link_joins(key_types) }}

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
        has_ambiguous_candidates,
        {{ key_columns | join(',\n        ') }}
    from joined

),

final as (

    select
        {{ record_columns | join(',\n        ') }},
        {{ link_result_columns() }},
        -- the record's matching keys besides its siret (as in int_accounts__match_keys): a
        -- night finds here the records a changed CRM key concerns
        {{ key_columns | join(',\n        ') }}
    from decided

)

select * from final
