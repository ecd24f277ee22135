-- Grain: one row per reconciliation check (check_id), for this run's state of the warehouse.
-- Nothing lost between the files and the published tables:
--   ingestion:<source>   rows read from the source's loaded files = rows in raw.<source> +
--                        rows of those files in quarantine (a superseded or duplicate file
--                        counts for nothing: its rows were replaced on purpose)
--   sell_out_*           the sell-out chain, lines, amount (original currency), amount in
--                        company currency and bottles: raw -> converted -> linked; linked to
--                        an account, our products -> monthly account sales; linked to an
--                        account, any brand -> monthly sales + other brands' market purchases
--   published_*_r12      monthly account sales over r12 for the scorecard's accounts ->
--                        account_scorecard (revenue and bottles, as published)
--   accounts:*           every account of dim_accounts is in the scorecard, the segments
--                        and the priorities (no account lost on the way to a class)
-- is_reconciled = |observed - expected| <= tolerance (0.01 plus a relative 1e-9 for the sums
-- of doubles). A false is an error-level check: nothing is published.
{%- set non_contract = ['quarantine', 'file_deliveries'] %}
{%- set raw_tables = [] %}
{%- if execute %}
    {%- for node in graph.sources.values() | sort(attribute='name') %}
        {%- if node.source_name == 'raw' and node.name not in non_contract %}
            {%- do raw_tables.append(node.name) %}
        {%- endif %}
    {%- endfor %}
{%- endif %}
with

deliveries as (

    select * from {{ ref('stg_ingestion__file_deliveries') }}
    where is_loaded

),

quarantine as (

    select * from {{ ref('stg_ingestion__quarantine') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

raw_sell_out as (

    select
        count(*) as lines,
        sum(amount) as amount
    from {{ source('raw', 'distributor_sell_out') }}

),

converted as (

    select
        count(*) as lines,
        sum(amount) as amount,
        sum(amount_eur) as amount_eur,
        sum(quantity_bottles) as bottles
    from {{ ref('int_sell_out_lines__converted') }}

),

linked as (

    select
        count(*) as lines,
        sum(amount_eur) as amount_eur,
        sum(quantity_bottles) as bottles,
        sum(case when account_id is not null then amount_eur end) as account_amount_eur,
        sum(case when account_id is not null and is_own_product then amount_eur end)
            as own_account_amount_eur
    from {{ ref('int_sell_out_lines__linked') }}

),

monthly as (

    select * from {{ ref('int_accounts__monthly_sales') }}

),

scorecard as (

    select * from {{ ref('account_scorecard') }}

),

monthly_totals as (

    select sum(sell_out_revenue_eur) as sell_out_revenue_eur
    from monthly

),

market_totals as (

    select
        sum(market_amount_eur) as market_amount_eur,
        sum(other_amount_eur) as other_amount_eur
    from {{ ref('int_accounts__market_purchases') }}

),

monthly_r12 as (

    select
        sum(monthly.revenue_eur) as revenue_eur,
        sum(monthly.bottles) as bottles
    from monthly
    cross join periods
    where monthly.account_id in (select account_id from scorecard)
        and monthly.sales_month between periods.r12_start and periods.r12_end

),

published_r12 as (

    select
        sum(revenue_r12) as revenue_eur,
        sum(bottles_r12) as bottles
    from scorecard

),

checks as (

    {%- for table in raw_tables %}
        select
            'ingestion:{{ table }}' as check_id,
            'ingestion' as stage,
            '{{ table }}' as subject,
            'rows' as measure,
            cast((
                select coalesce(sum(rows_read), 0) from deliveries
                where source_name = '{{ table }}'
            ) as {{ type_double() }}) as expected_value,
            cast((select count(*) from {{ source('raw', table) }}) + (
                select count(*) from quarantine
                where source_name = '{{ table }}'
                    and file_path in (
                        select file_path from deliveries
                        where source_name = '{{ table }}'
                    )
            ) as {{ type_double() }}) as observed_value,
            'rows read from loaded files' as expected_from,
            'rows in raw + rows quarantined' as observed_from
        union all
    {%- endfor %}
    select
        'sell_out_lines:raw->converted',
        'harmonization',
        'distributor_sell_out',
        'lines',
        cast(raw_sell_out.lines as {{ type_double() }}),
        cast(converted.lines as {{ type_double() }}),
        'raw.distributor_sell_out',
        'int_sell_out_lines__converted'
    from raw_sell_out cross join converted
    union all
    select
        'sell_out_amount:raw->converted',
        'harmonization',
        'distributor_sell_out',
        'amount (delivered currency)',
        raw_sell_out.amount,
        converted.amount,
        'raw.distributor_sell_out',
        'int_sell_out_lines__converted'
    from raw_sell_out cross join converted
    union all
    select
        'sell_out_amount_eur:converted->linked',
        'linking',
        'distributor_sell_out',
        'amount (company currency)',
        converted.amount_eur,
        linked.amount_eur,
        'int_sell_out_lines__converted',
        'int_sell_out_lines__linked'
    from converted cross join linked
    union all
    select
        'sell_out_bottles:converted->linked',
        'linking',
        'distributor_sell_out',
        'bottles',
        converted.bottles,
        linked.bottles,
        'int_sell_out_lines__converted',
        'int_sell_out_lines__linked'
    from converted cross join linked
    union all
    select
        'sell_out_amount_eur:linked->monthly',
        'accounts',
        'distributor_sell_out',
        'amount (company currency) of our products linked to an account',
        linked.own_account_amount_eur,
        monthly_totals.sell_out_revenue_eur,
        'int_sell_out_lines__linked',
        'int_accounts__monthly_sales'
    from linked cross join monthly_totals
    union all
    select
        'sell_out_amount_eur:linked->own+market',
        'accounts',
        'distributor_sell_out',
        'amount (company currency) linked to an account, ours and other brands',
        linked.account_amount_eur,
        coalesce(monthly_totals.sell_out_revenue_eur, 0) + coalesce(market_totals.other_amount_eur, 0),
        'int_sell_out_lines__linked',
        'int_accounts__monthly_sales + int_accounts__market_purchases (other brands)'
    from linked cross join monthly_totals cross join market_totals
    union all
    {%- for downstream in ['account_scorecard', 'account_segments', 'account_priorities'] %}
        select
            'accounts:dim_accounts->{{ downstream }}',
            'publication',
            '{{ downstream }}',
            'accounts',
            cast((select count(*) from {{ ref('dim_accounts') }}) as {{ type_double() }}),
            cast((
                select count(*) from {{ ref(downstream) }}
                where account_id in (select account_id from {{ ref('dim_accounts') }})
            ) as {{ type_double() }}),
            'dim_accounts',
            '{{ downstream }}'
        union all
    {%- endfor %}
    select
        'published_revenue_r12:monthly->scorecard',
        'publication',
        'account_scorecard',
        'brand revenue r12 (company currency)',
        monthly_r12.revenue_eur,
        published_r12.revenue_eur,
        'int_accounts__monthly_sales',
        'account_scorecard'
    from monthly_r12 cross join published_r12
    union all
    select
        'published_bottles_r12:monthly->scorecard',
        'publication',
        'account_scorecard',
        'bottles r12',
        monthly_r12.bottles,
        published_r12.bottles,
        'int_accounts__monthly_sales',
        'account_scorecard'
    from monthly_r12 cross join published_r12

),

final as (

    select
        cast(check_id as {{ dbt.type_string() }}) as check_id,
        cast(stage as {{ dbt.type_string() }}) as stage,
        cast(subject as {{ dbt.type_string() }}) as subject,
        cast(measure as {{ dbt.type_string() }}) as measure,
        cast(expected_from as {{ dbt.type_string() }}) as expected_from,
        cast(observed_from as {{ dbt.type_string() }}) as observed_from,
        cast(round(coalesce(expected_value, 0), 4) as {{ type_double() }}) as expected_value,
        cast(round(coalesce(observed_value, 0), 4) as {{ type_double() }}) as observed_value,
        cast(
            round(coalesce(observed_value, 0) - coalesce(expected_value, 0), 4)
            as {{ type_double() }}
        ) as difference,
        cast(
            0.01 + 1e-9 * abs(coalesce(expected_value, 0)) as {{ type_double() }}
        ) as tolerance,
        cast(
            abs(coalesce(observed_value, 0) - coalesce(expected_value, 0))
            <= 0.01 + 1e-9 * abs(coalesce(expected_value, 0))
            as {{ dbt.type_boolean() }}
        ) as is_reconciled
    from checks

)

select * from final
