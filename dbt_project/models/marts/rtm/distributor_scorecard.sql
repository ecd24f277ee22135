-- Grain: one row per distributor x reported month (distributor_id + period_month), from the
-- first month any distributor reported to as_of_month; a month without a file is a row with
-- files_received 0 and 0 points. Rules in the model description (_distributors__models.yml).
{%- set cfg = var('rtm')['distributors'] %}
{%- set challenge = cfg['challenge'] %}
{%- set default_due_days = var('distributor_default_due_days', 10) | int %}
{%- set declared_tolerance = cfg['declared_total_tolerance'] %}
{%- set max_points = challenge['on_time_points'] + challenge['complete_points']
    + challenge['linkable_points'] + challenge['declared_match_points'] %}
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

files as (

    select * from {{ ref('int_rtm__distributor_files') }}

),

quarantine as (

    select * from {{ ref('int_rtm__distributor_quarantine') }}

),

monthly_lines as (

    select * from {{ ref('int_rtm__distributor_monthly_lines') }}

),

declarations as (

    select * from {{ ref('stg_distributors__declarations') }}

),

delivery_config as (

    {{ rows_from_mapping(
        var('distributor_delivery', {}),
        'distributor_id',
        [('due_days_after_month_end', 'integer', default_due_days)]) }}

),

distributors as (

    select distributor_id from delivery_config
    union
    select distributor_id from files

),

digits as (

    select 0 as digit
    union all
    select 1 as digit
    union all
    select 2 as digit
    union all
    select 3 as digit
    union all
    select 4 as digit
    union all
    select 5 as digit
    union all
    select 6 as digit
    union all
    select 7 as digit
    union all
    select 8 as digit
    union all
    select 9 as digit

),

month_offsets as (

    select tens.digit * 10 + units.digit as month_offset
    from digits as tens
    cross join digits as units

),

first_period as (

    select min(period_month) as first_period_month
    from files

),

data_clock as (

    -- "Today" as the data sees it: the latest distributor file delivery. A report due after
    -- it is not yet due (not missing).
    select cast(max(delivered_at) as date) as data_date
    from files

),

months as (

    select
        {{ add_months('first_period.first_period_month', 'month_offsets.month_offset') }}
            as period_month
    from first_period
    cross join month_offsets
    cross join periods
    where
        {{ add_months('first_period.first_period_month', 'month_offsets.month_offset') }}
        <= periods.as_of_month_start

),

expected as (

    select
        distributors.distributor_id,
        months.period_month,
        coalesce(delivery_config.due_days_after_month_end, {{ default_due_days }})
            as due_days_after_month_end
    from distributors
    cross join months
    left join delivery_config on distributors.distributor_id = delivery_config.distributor_id

),

files_by_month as (

    select
        distributor_id,
        period_month,
        sum(case when is_duplicate then 0 else 1 end) as files_received,
        sum(case when is_duplicate then 1 else 0 end) as duplicate_files,
        sum(case when is_failed then 1 else 0 end) as failed_files,
        min(delivered_at) as first_delivered_at,
        sum(case when is_current then rows_read else 0 end) as lines_received,
        sum(case when is_current then rows_loaded else 0 end) as lines_loaded,
        sum(case when is_current then rows_quarantined else 0 end) as lines_quarantined
    from files
    group by distributor_id, period_month

),

ranked_reasons as (

    select
        distributor_id,
        period_month,
        reason_field,
        quarantined_lines,
        row_number() over (
            partition by distributor_id, period_month
            order by quarantined_lines desc, reason_field asc
        ) as reason_rank
    from quarantine

),

reasons as (

    select
        distributor_id,
        period_month,
        max(case when reason_rank = 1 then reason_field end) as top_quarantine_reason,
        {{ dbt.listagg(
            dbt.concat([
                "reason_field", "': '", "cast(quarantined_lines as " ~ dbt.type_string() ~ ")"]),
            "', '",
            "order by quarantined_lines desc, reason_field asc") }} as quarantine_reasons
    from ranked_reasons
    group by distributor_id, period_month

),

joined as (

    select
        expected.distributor_id,
        expected.period_month,
        expected.due_days_after_month_end,
        cast(
            {{ dbt.dateadd(
                'day', 'expected.due_days_after_month_end', dbt.last_day('expected.period_month', 'month')
            ) }} as date
        ) as due_date,
        coalesce(files_by_month.files_received, 0) as files_received,
        coalesce(files_by_month.duplicate_files, 0) as duplicate_files,
        coalesce(files_by_month.failed_files, 0) as failed_files,
        files_by_month.first_delivered_at,
        coalesce(files_by_month.lines_received, 0) as lines_received,
        coalesce(files_by_month.lines_loaded, 0) as lines_loaded,
        coalesce(files_by_month.lines_quarantined, 0) as lines_quarantined,
        reasons.top_quarantine_reason,
        reasons.quarantine_reasons,
        coalesce(monthly_lines.sell_out_lines, 0) as sell_out_lines,
        coalesce(monthly_lines.linked_lines, 0) as linked_lines,
        coalesce(monthly_lines.sell_out_bottles, 0) as sell_out_bottles,
        coalesce(monthly_lines.sell_out_amount_eur, 0) as sell_out_amount_eur,
        coalesce(monthly_lines.sell_in_bottles, 0) as sell_in_bottles,
        declarations.declared_lines,
        declarations.declared_bottles,
        declarations.declared_amount_eur,
        periods.as_of_month,
        data_clock.data_date
    from expected
    cross join periods
    cross join data_clock
    left join files_by_month
        on
            expected.distributor_id = files_by_month.distributor_id
            and expected.period_month = files_by_month.period_month
    left join reasons
        on
            expected.distributor_id = reasons.distributor_id
            and expected.period_month = reasons.period_month
    left join monthly_lines
        on
            expected.distributor_id = monthly_lines.distributor_id
            and expected.period_month = monthly_lines.activity_month
    left join declarations
        on
            expected.distributor_id = declarations.distributor_id
            and expected.period_month = declarations.period_month

),

cumulated as (

    select
        *,
        sum(sell_out_bottles) over (
            partition by distributor_id
            order by period_month rows between unbounded preceding and current row
        ) as cumulative_sell_out_bottles,
        sum(sell_in_bottles) over (
            partition by distributor_id
            order by period_month rows between unbounded preceding and current row
        ) as cumulative_sell_in_bottles,
        {{ cfg['opening_stock_months'] }} * avg(sell_in_bottles) over (partition by distributor_id)
            as opening_stock_bottles,
        case
            when first_delivered_at is null then null
            when cast(first_delivered_at as date) <= due_date then 0
            else {{ dbt.datediff('due_date', 'cast(first_delivered_at as date)', 'day') }}
        end as days_late
    from joined

),

measured as (

    select
        *,
        files_received > 0 as is_received,
        case
            when files_received > 0 and coalesce(days_late, 0) > 0 then 'late'
            when files_received > 0 then 'on_time'
            when due_date >= data_date then 'not_yet_due'
            else 'missing'
        end as report_status,
        coalesce(days_late > 0, false) as is_late,
        {{ safe_divide('lines_quarantined', 'lines_received') }} as quarantine_share,
        {{ safe_divide('linked_lines', 'sell_out_lines') }} as linked_share,
        {{ safe_divide(
            'cumulative_sell_out_bottles', 'cumulative_sell_in_bottles + opening_stock_bottles'
        ) }} as sell_out_to_supply_ratio,
        {{ safe_divide('lines_received - declared_lines', 'declared_lines') }} as declared_lines_gap,
        {{ safe_divide('sell_out_bottles - declared_bottles', 'declared_bottles') }} as declared_bottles_gap,
        {{ safe_divide('sell_out_amount_eur - declared_amount_eur', 'declared_amount_eur') }}
            as declared_amount_gap
    from cumulated

),

flagged as (

    select
        *,
        cumulative_sell_out_bottles
        <= (cumulative_sell_in_bottles + opening_stock_bottles)
        * (1 + {{ cfg['consistency_tolerance'] }}) as is_consistent,
        case
            when declared_lines is null then null
            else
                coalesce(abs(declared_lines_gap) <= {{ declared_tolerance }}, lines_received = declared_lines)
                and coalesce(
                    abs(declared_bottles_gap) <= {{ declared_tolerance }}, sell_out_bottles = declared_bottles
                )
                and coalesce(
                    abs(declared_amount_gap) <= {{ declared_tolerance }},
                    sell_out_amount_eur = declared_amount_eur
                )
        end as is_declared_match,
        is_received
        and lines_loaded > 0
        and coalesce(quarantine_share <= {{ challenge['complete_max_quarantine_share'] }}, false)
            as is_complete,
        is_received
        and coalesce(linked_share >= {{ challenge['linkable_min_share'] }}, false) as is_linkable
    from measured

),

scored as (

    select
        *,
        case
            when not is_received then 0
            else
                greatest(
                    {{ challenge['on_time_points'] }}
                    - {{ challenge['late_penalty_points_per_day'] }} * days_late,
                    0
                )
        end as on_time_points,
        case when is_complete then {{ challenge['complete_points'] }} else 0 end as complete_points,
        case when is_linkable then {{ challenge['linkable_points'] }} else 0 end as linkable_points,
        case
            when is_received and coalesce(is_declared_match, false)
                then {{ challenge['declared_match_points'] }}
            else 0
        end as declared_match_points
    from flagged

),

final as (

    select
        distributor_id,
        period_month,
        as_of_month,
        cast(1 as integer) as files_expected,
        cast(files_received as {{ dbt.type_bigint() }}) as files_received,
        cast(duplicate_files as {{ dbt.type_bigint() }}) as duplicate_files,
        cast(failed_files as {{ dbt.type_bigint() }}) as failed_files,
        is_received,
        cast(due_days_after_month_end as integer) as due_days_after_month_end,
        due_date,
        first_delivered_at,
        cast(days_late as {{ dbt.type_bigint() }}) as days_late,
        is_late,
        report_status,
        cast(lines_received as {{ dbt.type_bigint() }}) as lines_received,
        cast(lines_loaded as {{ dbt.type_bigint() }}) as lines_loaded,
        cast(lines_quarantined as {{ dbt.type_bigint() }}) as lines_quarantined,
        quarantine_share,
        top_quarantine_reason,
        quarantine_reasons,
        cast(sell_out_lines as {{ dbt.type_bigint() }}) as sell_out_lines,
        cast(linked_lines as {{ dbt.type_bigint() }}) as linked_lines,
        linked_share,
        cast(sell_out_bottles as {{ type_double() }}) as sell_out_bottles,
        cast(sell_out_amount_eur as {{ type_double() }}) as sell_out_amount_eur,
        cast(sell_in_bottles as {{ type_double() }}) as sell_in_bottles,
        cast(cumulative_sell_out_bottles as {{ type_double() }}) as cumulative_sell_out_bottles,
        cast(cumulative_sell_in_bottles as {{ type_double() }}) as cumulative_sell_in_bottles,
        cast(opening_stock_bottles as {{ type_double() }}) as opening_stock_bottles,
        sell_out_to_supply_ratio,
        is_consistent,
        cast(declared_lines as {{ dbt.type_bigint() }}) as declared_lines,
        cast(declared_bottles as {{ dbt.type_bigint() }}) as declared_bottles,
        cast(declared_amount_eur as {{ type_double() }}) as declared_amount_eur,
        declared_lines_gap,
        declared_bottles_gap,
        declared_amount_gap,
        is_declared_match,
        is_complete,
        is_linkable,
        cast(on_time_points as {{ type_double() }}) as on_time_points,
        cast(complete_points as {{ type_double() }}) as complete_points,
        cast(linkable_points as {{ type_double() }}) as linkable_points,
        cast(declared_match_points as {{ type_double() }}) as declared_match_points,
        cast(
            on_time_points + complete_points + linkable_points + declared_match_points
            as {{ type_double() }}
        ) as total_points,
        cast({{ max_points }} as {{ type_double() }}) as max_points
    from scored

)

select * from final
