-- Grain: one row per A&P spend type x segment (segment = the account's tier today from
-- account_segments, plus 'all' for every tier together), as_of_month. Difference in
-- differences per treated account from int_rtm__ap_treated_accounts; see the model
-- description for the method.
{%- set ap = var('rtm')['ap_returns'] %}
{#- cohorts per bit-set word below; a unit test sets 1 to run the several-word path -#}
{%- set cohort_word_bits = var('ap_cohort_word_bits', 62) | int %}
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

treated_accounts as (

    select * from {{ ref('int_rtm__ap_treated_accounts') }}

),

comparison_accounts as (

    select
        cohort_month,
        account_id,
        channel,
        size_band
    from {{ ref('int_rtm__ap_comparison_accounts') }}

),

spend as (

    select
        account_id,
        spend_type,
        spend_month,
        amount
    from {{ ref('stg_marketing__ap_spend') }}

),

segments as (

    select
        account_id,
        tier
    from {{ ref('account_segments') }}

),

spend_types as (

    select distinct spend_type
    from spend

),

segment_values as (

    select distinct tier as segment
    from segments
    union all
    select 'all' as segment

),

scaffold as (

    select
        spend_types.spend_type,
        segment_values.segment
    from spend_types
    cross join segment_values

),

spend_r12 as (

    select
        spend.account_id,
        spend.spend_type,
        segments.tier,
        spend.amount
    from spend
    inner join segments on spend.account_id = segments.account_id
    cross join periods
    where spend.spend_month >= periods.r12_start and spend.spend_month <= periods.r12_end

),

spend_r12_by_segment as (

    select
        spend_type,
        tier as segment,
        account_id,
        amount
    from spend_r12
    union all
    select
        spend_type,
        'all' as segment,
        account_id,
        amount
    from spend_r12

),

spend_summed as (

    select
        spend_type,
        segment,
        sum(amount) as spend_r12_eur,
        count(distinct account_id) as accounts_with_spend_r12
    from spend_r12_by_segment
    group by spend_type, segment

),

treated_by_segment as (

    select
        tier as segment,
        *
    from treated_accounts
    union all
    select
        'all' as segment,
        *
    from treated_accounts

),

did as (

    select
        spend_type,
        segment,
        sum(case when window_status = 'included' then 1 else 0 end) as treated_accounts,
        sum(case when window_status = 'excluded_window' then 1 else 0 end) as excluded_window_accounts,
        sum(case when window_status = 'excluded_no_pre_sales' then 1 else 0 end)
            as excluded_no_pre_sales_accounts,
        sum(case when window_status = 'excluded_unmatched' then 1 else 0 end)
            as excluded_unmatched_accounts,
        sum(case when window_status = 'included' then window_spend_eur else 0 end) as window_spend_eur,
        avg(case when window_status = 'included' then treated_change_eur end) as mean_treated_change_eur,
        avg(case when window_status = 'included' then comparison_mean_change_eur end)
            as mean_comparison_change_eur,
        sum(case when window_status = 'included' then did_eur end) as incremental_revenue_eur,
        {{ var_samp("case when window_status = 'included' then did_eur end") }} as did_variance_eur
    from treated_by_segment
    group by spend_type, segment

),

matched_cells as (

    select distinct
        spend_type,
        segment,
        first_spend_month,
        channel,
        size_band
    from treated_by_segment
    where window_status = 'included'

),

-- The comparison accounts of a (spend type, segment), each counted once: the accounts that
-- are comparison accounts of one of its matched cells (cohort month x channel x size band).
-- Joining the cells to the comparison rows and counting distinct accounts grouped 143 M rows
-- at 1M accounts (7 s). Instead, an account's cohorts and a group's matched cohorts are bit
-- sets (bit i = the i-th cohort month, in words of 62 cohorts), intersected with &: the
-- accounts whose cohorts fit in one word (all of them up to 62 cohort months) are counted by
-- identical sets, the others (longer histories) one by one.
cohort_positions as (

    select
        cohort_month,
        row_number() over (order by cohort_month) - 1 as cohort_position
    from (select distinct cohort_month from comparison_accounts) as cohorts

),

cohort_bits as (

    select
        cohort_month,
        cast(floor(cohort_position / {{ cohort_word_bits }}) as {{ dbt.type_bigint() }}) as bit_word,
        {{ bit_at('cohort_position % ' ~ cohort_word_bits) }} as cohort_bit
    from cohort_positions

),

account_cohorts as (

    select
        comparison_accounts.account_id,
        comparison_accounts.channel,
        comparison_accounts.size_band,
        cohort_bits.bit_word,
        bit_or(cohort_bits.cohort_bit) as cohort_bits
    from comparison_accounts
    inner join cohort_bits on comparison_accounts.cohort_month = cohort_bits.cohort_month
    group by
        comparison_accounts.account_id,
        comparison_accounts.channel,
        comparison_accounts.size_band,
        cohort_bits.bit_word

),

account_cohort_words as (

    select
        *,
        count(*) over (partition by account_id) as account_words
    from account_cohorts

),

cell_cohorts as (

    select
        matched_cells.spend_type,
        matched_cells.segment,
        matched_cells.channel,
        matched_cells.size_band,
        cohort_bits.bit_word,
        bit_or(cohort_bits.cohort_bit) as cohort_bits
    from matched_cells
    inner join cohort_bits on matched_cells.first_spend_month = cohort_bits.cohort_month
    group by
        matched_cells.spend_type,
        matched_cells.segment,
        matched_cells.channel,
        matched_cells.size_band,
        cohort_bits.bit_word

),

one_word_account_sets as (

    select
        channel,
        size_band,
        bit_word,
        cohort_bits,
        count(*) as account_count
    from account_cohort_words
    where account_words = 1
    group by channel, size_band, bit_word, cohort_bits

),

comparison_counts as (

    select
        cell_cohorts.spend_type,
        cell_cohorts.segment,
        sum(one_word_account_sets.account_count) as comparison_accounts
    from cell_cohorts
    inner join one_word_account_sets
        on
            cell_cohorts.channel = one_word_account_sets.channel
            and cell_cohorts.size_band = one_word_account_sets.size_band
            and cell_cohorts.bit_word = one_word_account_sets.bit_word
    where (cell_cohorts.cohort_bits & one_word_account_sets.cohort_bits) <> 0
    group by cell_cohorts.spend_type, cell_cohorts.segment
    union all
    select
        cell_cohorts.spend_type,
        cell_cohorts.segment,
        count(distinct account_cohort_words.account_id) as comparison_accounts
    from cell_cohorts
    inner join account_cohort_words
        on
            cell_cohorts.channel = account_cohort_words.channel
            and cell_cohorts.size_band = account_cohort_words.size_band
            and cell_cohorts.bit_word = account_cohort_words.bit_word
    where
        account_cohort_words.account_words > 1
        and (cell_cohorts.cohort_bits & account_cohort_words.cohort_bits) <> 0
    group by cell_cohorts.spend_type, cell_cohorts.segment

),

comparison as (

    select
        spend_type,
        segment,
        sum(comparison_accounts) as comparison_accounts
    from comparison_counts
    group by spend_type, segment

),

joined as (

    select
        scaffold.spend_type,
        scaffold.segment,
        periods.as_of_month,
        coalesce(spend_summed.spend_r12_eur, 0) as spend_r12_eur,
        coalesce(spend_summed.accounts_with_spend_r12, 0) as accounts_with_spend_r12,
        coalesce(did.treated_accounts, 0) as treated_accounts,
        coalesce(comparison.comparison_accounts, 0) as comparison_accounts,
        coalesce(did.excluded_window_accounts, 0) as excluded_window_accounts,
        coalesce(did.excluded_no_pre_sales_accounts, 0) as excluded_no_pre_sales_accounts,
        coalesce(did.excluded_unmatched_accounts, 0) as excluded_unmatched_accounts,
        coalesce(did.window_spend_eur, 0) as window_spend_eur,
        did.mean_treated_change_eur,
        did.mean_comparison_change_eur,
        did.incremental_revenue_eur,
        case
            when did.treated_accounts >= 2
                then sqrt(did.did_variance_eur * did.treated_accounts)
        end as incremental_revenue_se_eur
    from scaffold
    cross join periods
    left join spend_summed
        on scaffold.spend_type = spend_summed.spend_type and scaffold.segment = spend_summed.segment
    left join did on scaffold.spend_type = did.spend_type and scaffold.segment = did.segment
    left join comparison
        on scaffold.spend_type = comparison.spend_type and scaffold.segment = comparison.segment

),

final as (

    select
        spend_type,
        segment,
        as_of_month,
        {{ ap['pre_months'] | int }} as pre_months,
        {{ ap['post_months'] | int }} as post_months,
        cast(spend_r12_eur as {{ type_double() }}) as spend_r12_eur,
        cast(accounts_with_spend_r12 as {{ dbt.type_bigint() }}) as accounts_with_spend_r12,
        cast(treated_accounts as {{ dbt.type_bigint() }}) as treated_accounts,
        cast(comparison_accounts as {{ dbt.type_bigint() }}) as comparison_accounts,
        cast(excluded_window_accounts as {{ dbt.type_bigint() }}) as excluded_window_accounts,
        cast(excluded_no_pre_sales_accounts as {{ dbt.type_bigint() }}) as excluded_no_pre_sales_accounts,
        cast(excluded_unmatched_accounts as {{ dbt.type_bigint() }}) as excluded_unmatched_accounts,
        cast(window_spend_eur as {{ type_double() }}) as window_spend_eur,
        mean_treated_change_eur,
        mean_comparison_change_eur,
        incremental_revenue_eur,
        incremental_revenue_se_eur,
        {{ safe_divide('incremental_revenue_eur', 'window_spend_eur') }} as return_per_eur,
        {{ safe_divide('incremental_revenue_se_eur', 'window_spend_eur') }} as return_per_eur_se,
        treated_accounts >= {{ ap['min_treated_accounts'] | int }}
        and comparison_accounts >= {{ ap['min_comparison_accounts'] | int }} as is_conclusive,
        coalesce(
            incremental_revenue_se_eur > 0
            and abs(incremental_revenue_eur) > 2 * incremental_revenue_se_eur,
            false
        ) as is_significant
    from joined

)

select * from final
