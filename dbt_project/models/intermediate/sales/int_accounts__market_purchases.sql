-- Grain: one row per CRM account and calendar month with any linked sell-out line (account_id +
-- sales_month): what the account bought through the sell-out feeds from every supplier,
-- ours and the others'. A feed that reports the whole market (a wholesaler's or a panel's:
-- company.yaml own_brands set) gives the account's real category purchases, the potential
-- of int_accounts__potential when var potential_source = market_purchases.
--   market_amount_eur      every linked line (returns netted), any brand or category
--   own_amount_eur         lines of our products (is_own_product): = the sell-out revenue
--                          of int_accounts__monthly_sales
--   other_amount_eur       market - own: other brands' lines and lines of products missing
--                          from the product master (counted in unresolved_line_count)
--   category_amount_eur    lines, any brand, of a category in which we sell (a category of a
--                          product of ours in the product master; every category when
--                          own_brands is empty)
--   own_*                  the same lines of our products in bottles, litres, lines, lines
--                          without a converted amount, last purchase day and the set of days
--                          with a purchase (day_of_month_bit): int_accounts__monthly_sales
--                          adds the direct sell-in to them instead of reading every sell-out
--                          line of the history a second time
-- Every linked line is counted here once, so linked lines = monthly sales (own) + the other
-- lines of this model (data_reconciliation).
--
-- Incremental by pair: a night re-aggregates only the (account_id, sales_month) pairs whose
-- lines the sell-out fact deleted or inserted since this table was built (the fact logs
-- them in int_sell_out_lines__linked__touched), and every pair when that cannot be exact:
-- a fact build that rewrote every line, another version of this SQL (model_version), a
-- changed set of own categories (macros/incremental_market_purchases.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ market_purchases_prune() }}",
    post_hook="{{ market_purchases_record_state() }}",
) }}
with

lines as (

    select * from {{ ref('int_sell_out_lines__linked') }} as lines
    where
        lines.account_id is not null
        {{- market_purchases_lines_to_aggregate('lines') }}

),

own_categories as (

    {{ market_purchases_own_categories() }}

),

classified as (

    select
        lines.account_id,
        lines.sale_month as sales_month,
        lines.sale_date,
        lines.quantity,
        lines.quantity_bottles,
        lines.volume_litres,
        lines.amount_eur,
        lines.is_own_product,
        lines.is_product_resolved,
        own_categories.category is not null as is_in_own_category
    from lines
    left join own_categories on lines.category = own_categories.category

),

final as (

    select
        account_id,
        sales_month,
        coalesce(sum(amount_eur), 0) as market_amount_eur,
        coalesce(sum(case when is_own_product then amount_eur end), 0) as own_amount_eur,
        coalesce(sum(case when not is_own_product then amount_eur end), 0) as other_amount_eur,
        coalesce(sum(case when is_in_own_category then amount_eur end), 0)
            as category_amount_eur,
        count(*) as line_count,
        sum(case when not is_own_product then 1 else 0 end) as other_line_count,
        sum(case when not is_product_resolved then 1 else 0 end) as unresolved_line_count,
        coalesce(sum(case when is_own_product then quantity_bottles end), 0) as own_bottles,
        coalesce(sum(case when is_own_product then volume_litres end), 0) as own_volume_litres,
        sum(case when is_own_product then 1 else 0 end) as own_line_count,
        sum(case when is_own_product and amount_eur is null then 1 else 0 end)
            as own_unconverted_line_count,
        max(case when is_own_product and quantity > 0 then sale_date end)
            as own_last_purchase_date,
        bit_or(case when is_own_product and quantity > 0 then {{ day_of_month_bit('sale_date') }} end)
            as own_purchase_day_mask,
        '{{ market_purchases_version() }}' as model_version
    from classified
    group by account_id, sales_month

)

select * from final
