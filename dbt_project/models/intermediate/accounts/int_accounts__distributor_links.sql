-- Grain: one row per distributor customer (distributor_id + distributor_account_code), with
-- the CRM account it is linked to. The account-linking engine's crosswalk (source
-- linking.account_crosswalk: keys, Splink, and the human overrides file
-- examples/sample_company/link_overrides.csv) decides when it has the code; otherwise
-- (a database built without the linking step) deterministic rules, first hit wins:
--   siret > normalized phone > normalized name + postcode + house number > normalized
--   name + postcode (refused when house numbers differ).
-- Customers that match no CRM account (account_id null, match_method 'unmatched') buy the
-- category but are not in the CRM: prospects, or the review queue for a human override.
with

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
    from {{ ref('int_accounts__distributor_customer_variants') }}
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

keyed as (

    select
        *,
        {{ street_number('customer_address') }} as street_number,
        customer_siret as siret_key,
        {{ normalize_phone('customer_phone') }} as phone_key,
        {{ normalize_name('customer_name') }} as customer_name_normalized,
        {{ name_postcode_keys('customer_name', 'customer_postcode', 'customer_address') }}
    from customers

),

linked as (

    select
        {{ surrogate_key(['keyed.distributor_id', 'keyed.distributor_account_code']) }}
            as distributor_customer_id,
        keyed.distributor_id,
        keyed.distributor_account_code,
        keyed.customer_name,
        keyed.customer_name_normalized,
        keyed.customer_address,
        keyed.customer_postcode,
        keyed.customer_city,
        keyed.customer_siret,
        keyed.phone_key as customer_phone_normalized,
        keyed.line_count,
        keyed.first_sale_date,
        keyed.last_sale_date,
        {{ crm_link_columns(['siret', 'phone', 'name_postcode_number', 'name_postcode']) }}
    from keyed
    {{ crm_link_joins(['siret', 'phone', 'name_postcode_number', 'name_postcode']) }}

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
        distributor_id,
        distributor_account_code,
        customer_name,
        customer_name_normalized,
        customer_address,
        customer_postcode,
        customer_city,
        customer_siret,
        customer_phone_normalized,
        line_count,
        first_sale_date,
        last_sale_date,
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
