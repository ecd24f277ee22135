-- Grain: one row per kind of data problem (issue_id) found in this run's data: each real
-- problem a feed or a master carries, counted, with what the pipeline does about it. Nothing
-- here is dropped: every line and account stays where data_reconciliation proves it is.
--   sell_out_returns                 lines with a negative quantity (returns): kept, netted
--   sell_out_unknown_products        lines whose product code is not in the product master:
--                                    kept with their amount, no brand or category (never ours)
--   sell_out_unlinked_lines          lines whose customer is linked to no account
--                                    (prospects / review queue)
--   sales_to_inactive_accounts_r12   lines of r12 sold to accounts inactive in the CRM: not in
--                                    the published scorecard (which covers active accounts)
--   accounts_without_coordinates     active accounts without latitude/longitude: left out of
--                                    distance-based territory travel
--   inactive_accounts                accounts inactive in the CRM
--   accounts_in_multi_zone_postcodes accounts whose postcode spans several zones: one zone is
--                                    chosen by int_accounts__zones.zone_rule
--   accounts_without_zone            accounts whose postcode is not in the zone reference
--                                    (only counted when the reference is delivered)
--   rows_quarantined                 delivered rows that broke their contract (raw.quarantine)
with

lines as (

    select * from {{ ref('int_sell_out_lines__linked') }}

),

market_purchases as (

    select * from {{ ref('int_accounts__market_purchases') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

zones as (

    select * from {{ ref('int_accounts__zones') }}

),

sell_out_issues as (

    -- the fact's three line-level issues in one pass over its lines: read by three queries,
    -- the fact was materialized whole for them (107 M lines written again at 1M accounts)
    select
        count(*) filter (where is_return) as return_lines,
        sum(amount_eur) filter (where is_return) as return_amount_eur,
        count(*) filter (where not is_product_resolved) as unknown_product_lines,
        sum(amount_eur) filter (where not is_product_resolved) as unknown_product_amount_eur,
        count(*) filter (where account_id is null) as unlinked_lines,
        sum(amount_eur) filter (where account_id is null) as unlinked_amount_eur
    from lines

),

has_zone_reference as (

    select count(*) > 0 as is_delivered from {{ ref('stg_reference__postcode_zones') }}

),

issues as (

    select
        'sell_out_returns' as issue_id,
        'distributor_sell_out' as subject,
        return_lines as affected,
        return_amount_eur as amount_eur,
        'kept and netted against purchases' as handling
    from sell_out_issues

    union all

    select
        'sell_out_unknown_products' as issue_id,
        'distributor_sell_out' as subject,
        unknown_product_lines as affected,
        unknown_product_amount_eur as amount_eur,
        'kept with their amount; no brand or category, so never counted as ours' as handling
    from sell_out_issues

    union all

    select
        'sell_out_unlinked_lines' as issue_id,
        'distributor_sell_out' as subject,
        unlinked_lines as affected,
        unlinked_amount_eur as amount_eur,
        'kept; the customer is a prospect or waits in the link review queue' as handling
    from sell_out_issues

    union all

    select
        'sales_to_inactive_accounts_r12' as issue_id,
        'distributor_sell_out' as subject,
        -- from the linked lines' monthly sums per account (every linked line counted once
        -- there, as data_reconciliation checks) instead of joining the r12 lines themselves;
        -- the one difference: lines that all lack an exchange rate sum to 0 there, not null
        coalesce(sum(market_purchases.line_count), 0) as affected,
        sum(market_purchases.market_amount_eur) as amount_eur,
        'linked and reconciled; outside the published scorecard (active accounts only)' as handling
    from market_purchases
    inner join accounts on market_purchases.account_id = accounts.account_id
    cross join periods
    where
        not accounts.is_active
        and market_purchases.sales_month between periods.r12_start and periods.r12_end

    union all

    select
        'accounts_without_coordinates' as issue_id,
        'crm_accounts' as subject,
        count(*) as affected,
        null as amount_eur,
        'active accounts left out of distance-based territory travel' as handling
    from accounts
    where is_active and (latitude is null or longitude is null)

    union all

    select
        'inactive_accounts' as issue_id,
        'crm_accounts' as subject,
        count(*) as affected,
        null as amount_eur,
        'kept in the CRM; not scored or published' as handling
    from accounts
    where not is_active

    union all

    select
        'accounts_in_multi_zone_postcodes' as issue_id,
        'postcode_zones' as subject,
        count(*) as affected,
        null as amount_eur,
        'one zone each: largest weight, else nearest unambiguous centre, else the city''s'
        || ' zone, else lowest id (int_accounts__zones.zone_rule)' as handling
    from zones
    where candidate_zones > 1

    union all

    select
        'accounts_without_zone' as issue_id,
        'postcode_zones' as subject,
        count(*) as affected,
        null as amount_eur,
        'left out of zone-based territories' as handling
    from zones
    cross join has_zone_reference
    where has_zone_reference.is_delivered and zones.zone_id is null

    union all

    select
        'rows_quarantined' as issue_id,
        'all sources' as subject,
        count(*) as affected,
        null as amount_eur,
        'held in raw.quarantine with the rule each row broke' as handling
    from {{ ref('stg_ingestion__quarantine') }}

),

final as (

    select
        cast(issue_id as {{ dbt.type_string() }}) as issue_id,
        cast(subject as {{ dbt.type_string() }}) as subject,
        cast(affected as {{ dbt.type_bigint() }}) as affected,
        cast(round(amount_eur, 2) as {{ type_double() }}) as amount_eur,
        cast(handling as {{ dbt.type_string() }}) as handling
    from issues

)

select * from final
