-- Grain: one row per distributor customer (distributor_id + distributor_account_code), with
-- the CRM account it is linked to. The account-linking engine's crosswalk (source
-- linking.account_crosswalk: keys, Splink, and the human overrides file
-- examples/sample_company/link_overrides.csv) decides when it has the code; otherwise
-- (a database built without the linking step) deterministic rules, first hit wins:
--   siret > normalized phone > normalized name + postcode + house number > normalized
--   name + postcode (refused when house numbers differ).
-- Customers that match no CRM account (account_id null, match_method 'unmatched') buy the
-- category but are not in the CRM: prospects, or the review queue for a human override.
-- The customer's matching keys are kept in the last columns.
--
-- Incremental by customer code (macros/incremental_links.sql,
-- macros/incremental_distributor_links.sql): rolling 10.6 M per-file spellings up, then
-- normalizing 875 k codes and joining them to the CRM's keys took 5 s at 1M accounts each
-- night. A night recomputes
--   - the codes with spellings in a file that arrived since the last build, or in a file
--     that left (the variants log the codes of the rows they delete): refreshed, every
--     spelling of theirs rolled up again and normalized;
--   - the codes whose crosswalk row changed, or which carry a matching key whose CRM
--     account, house number or ambiguity changed in int_accounts__match_keys (redecided,
--     from their stored row and keys);
-- and every code when the variants log is missing or says a build rewrote every row, when
-- the model's SQL or the macros it renders (link_confidence among them) changed, there is no
-- state, or on --full-refresh. The result equals a full build's
-- (tests/test_incremental_nights.py).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='distributor_customer_id',
    on_schema_change='sync_all_columns',
    pre_hook="{{ distributor_links_pre_hook() }}",
    post_hook="{{ distributor_links_post_hook() }}",
) }}
{%- set key_types = distributor_links_key_types() %}
{%- set plan = distributor_links_plan(distributor_links_version()) %}
{%- set customer_columns = [
    'distributor_id', 'distributor_account_code', 'customer_name', 'customer_name_normalized',
    'customer_address', 'customer_postcode', 'customer_city', 'customer_siret',
    'customer_phone_normalized', 'line_count', 'first_sale_date', 'last_sale_date',
] %}
{%- set key_columns = ['street_number', 'name_postcode_number_key', 'name_postcode_key'] %}
with

{{ distributor_links_changed_codes_cte(plan) }}

variants as (

    -- each spelling of a customer's details, with its activity over every loaded file
    -- (int_accounts__distributor_customer_variants keeps them per file, incrementally)
    select
        {{ customer_spelling_columns() | join(',\n        ') }},
        max(customer_siret) as customer_siret,
        max(customer_phone) as customer_phone,
        sum(line_count) as line_count,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date,
        max(last_loaded_at) as last_loaded_at
    from {{ distributor_links_spellings(plan) }}
    group by
        {{ customer_spelling_columns() | join(',\n        ') }}

),

latest_details as (

    -- name and address as last reported by the distributor
    select
        distributor_id,
        distributor_account_code,
        customer_name,
        customer_address,
        customer_postcode,
        customer_city,
        row_number() over (
            partition by distributor_id, distributor_account_code
            order by
                last_sale_date desc,
                last_loaded_at desc,
                customer_name asc,
                customer_address asc,
                customer_postcode asc,
                customer_city asc
        ) as recency_rank
    from variants

),

activity as (

    select
        distributor_id,
        distributor_account_code,
        max(customer_siret) as customer_siret,
        max(customer_phone) as customer_phone,
        sum(line_count) as line_count,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date
    from variants
    group by distributor_id, distributor_account_code

),

customers as (

    select
        activity.distributor_id,
        activity.distributor_account_code,
        latest_details.customer_name,
        latest_details.customer_address,
        latest_details.customer_postcode,
        latest_details.customer_city,
        activity.customer_siret,
        activity.customer_phone,
        activity.line_count,
        activity.first_sale_date,
        activity.last_sale_date
    from activity
    inner join latest_details
        on
            activity.distributor_id = latest_details.distributor_id
            and activity.distributor_account_code = latest_details.distributor_account_code
            and latest_details.recency_rank = 1

),

refreshed as (

    select
        *,
        {{ distributor_links_key_columns() }}
    from customers

),

crosswalk as (

    -- the account-linking engine's decision (orchestration/linking: keys, then Splink; the
    -- overrides file; links kept from night to night): wins over the rules above. Codes
    -- absent from it (no linking step ran) keep the rules' link.
    select
        {{ dbt.split_part('source', "':'", 2) }} as distributor_id,
        source_code as distributor_account_code,
        account_id,
        {{ crosswalk_match_method() }} as match_method,
        match_rule,
        match_probability,
        evidence
    from ({{ account_crosswalk('distributor:') }}) as crosswalk_rows

),
{{ link_redecide_ctes(
    plan, key_types, ['distributor_id', 'distributor_account_code'],
    "stored.distributor_id = crosswalk.distributor_id and "
        ~ "stored.distributor_account_code = crosswalk.distributor_account_code",
    'distributor_id', distributor_links_stored_keys()) }}

customer_keys as (

    select
        {{ (customer_columns + key_columns) | join(',\n        ') }}
    from refreshed
    {{- link_stored_records(
        plan, customer_columns + key_columns, ['distributor_id', 'distributor_account_code'],
        'not exists (select 1 from changed_codes where '
            ~ 'changed_codes.distributor_id = stored.distributor_id and '
            ~ 'changed_codes.distributor_account_code = stored.distributor_account_code)') }}

),

keyed as (

    select
        *,
        customer_siret as siret_key,
        customer_phone_normalized as phone_key
    from customer_keys

),

linked as (

    select
        {{ surrogate_key(['keyed.distributor_id', 'keyed.distributor_account_code']) }}
            as distributor_customer_id,
        keyed.{{ (customer_columns + key_columns) | join(',\n        keyed.') }},
        {{ crm_link_columns(key_types) }}
    from keyed
    {{ crm_link_joins(key_types) }}

),

joined as (

    -- The deterministic decision stands only when the crosswalk has no row for the code
    -- (linking not run yet); otherwise the crosswalk decides.
    select
        linked.*,
        {{ crosswalk_columns('distributor_id') }}
    from linked
    left join crosswalk
        on
            linked.distributor_id = crosswalk.distributor_id
            and linked.distributor_account_code = crosswalk.distributor_account_code

),

decided as (

    select
        distributor_customer_id,
        {{ customer_columns | join(',\n        ') }},
        {{ link_decision_columns() }},
        has_conflicting_keys,
        has_ambiguous_candidates,
        {{ key_columns | join(',\n        ') }}
    from joined

),

final as (

    select
        distributor_customer_id,
        {{ customer_columns | join(',\n        ') }},
        {{ link_result_columns() }},
        -- the customer's matching keys besides its siret and phone (as in
        -- int_accounts__match_keys): a night finds here the codes a changed CRM key concerns
        {{ key_columns | join(',\n        ') }}
    from decided

)

select * from final
