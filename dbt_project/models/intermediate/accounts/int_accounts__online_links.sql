-- Grain: one row per online listing (listing_id, latest version), with the CRM account it
-- belongs to. The account-linking engine's crosswalk (source linking.account_crosswalk:
-- keys, Splink on name + address + postcode + city + phone, the human overrides file
-- examples/sample_company/link_overrides.csv, links kept from night to night) decides for
-- every listing it has. A listing it does not have (a database built without the linking
-- step) falls back to deterministic rules, first hit wins: normalized phone > web site host
-- within the same department > normalized name + postcode + house number > normalized
-- name + postcode (refused when house numbers differ). The listing's matching keys are kept
-- in the last columns.
--
-- Incremental by listing (macros/incremental_links.sql, macros/incremental_online_links.sql):
-- normalizing 1.2 M listings and joining them to the CRM's keys every night, when almost
-- none changed, took 5 s at 1M accounts. A night recomputes
--   - the listings with a row in an online file loaded since the last build (refreshed:
--     their latest version is read and normalized again; their ids are written as
--     constants, a filter that reaches the raw table under the staging view's window);
--   - the listings whose crosswalk row changed, or which carry a matching key whose CRM
--     account, house number or ambiguity changed in int_accounts__match_keys (redecided,
--     from their stored row and keys);
-- and every listing when a file left the raw table, the model's SQL, the macros it renders
-- (link_confidence among them) or the staging view changed, there is no state, or on
-- --full-refresh. The result equals a full build's (tests/test_incremental_nights.py).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='listing_id',
    on_schema_change='sync_all_columns',
    pre_hook="{{ online_links_pre_hook() }}",
    post_hook="{{ online_links_post_hook() }}",
) }}
{%- set key_types = online_links_key_types() %}
{#- the source the refreshed listings are looked up in (a dependency of the model) #}
{%- set raw_listings = source('raw', 'online_presence') %}
{%- set plan = online_links_plan(online_links_version(), with_ids=true) %}
{%- set listing_columns = [
    'listing_id', 'platform', 'listing_name', 'address', 'postcode', 'city', 'phone', 'website',
    'latitude', 'longitude', 'rating', 'review_count', 'followers', 'last_activity_date',
    'updated_at',
] %}
{%- set key_columns = ['street_number', 'phone_key', 'website_key', 'name_postcode_number_key',
    'name_postcode_key'] %}
with

listings as (

    select * from {{ ref('stg_online__listings') }}
    {%- if not plan['rebuilds_all'] %}
    where {{ online_links_refreshed(plan) }}
    {%- endif %}

),

refreshed as (

    select
        {{ listing_columns | join(',\n        ') }},
        {{ online_links_key_columns() }}
    from listings

),

crosswalk as (

    select
        source,
        source_code as listing_id,
        account_id,
        {{ crosswalk_match_method() }} as match_method,
        match_rule,
        match_probability,
        evidence
    from ({{ account_crosswalk('online:') }}) as crosswalk_rows

),

{{ link_redecide_ctes(
    plan, key_types, ['listing_id'],
    "stored.listing_id = crosswalk.listing_id and "
        ~ dbt.concat(["'online:'", "stored.platform"]) ~ " = crosswalk.source",
    'listing_id', online_links_stored_keys()) }}

keyed as (

    select
        {{ (listing_columns + key_columns) | join(',\n        ') }}
    from refreshed
    {{- link_stored_records(
        plan, listing_columns + key_columns, ['listing_id'],
        'not (' ~ online_links_refreshed(plan, 'stored.listing_id') ~ ')') }}

),

linked as (

    select
        keyed.{{ (listing_columns + key_columns) | join(',\n        keyed.') }},
        {{ crm_link_columns(key_types) }}
    from keyed
    {{ crm_link_joins(key_types) }}

),

joined as (

    -- the deterministic decision stands only when the crosswalk has no row for the listing
    select
        linked.*,
        {{ crosswalk_columns('listing_id') }}
    from linked
    left join crosswalk
        on
            linked.listing_id = crosswalk.listing_id
            and {{ dbt.concat(["'online:'", "linked.platform"]) }} = crosswalk.source

),

decided as (

    select
        {{ listing_columns | join(',\n        ') }},
        {{ link_decision_columns() }},
        has_conflicting_keys,
        has_ambiguous_candidates,
        {{ key_columns | join(',\n        ') }}
    from joined

),

final as (

    select
        {{ listing_columns | join(',\n        ') }},
        {{ link_result_columns() }},
        -- the listing's matching keys (as in int_accounts__match_keys): a night finds here
        -- the listings that a changed CRM key concerns
        {{ key_columns | join(',\n        ') }}
    from decided

)

select * from final
