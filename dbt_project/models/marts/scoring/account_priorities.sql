{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per active CRM account (account_id), for as_of_month.
--   <criterion>_points = weight x reliability of the criterion's source x normalized value
--                        (int_scoring__criteria; 0 when the account has no value); null when
--                        the criterion is not configured or left out.
--   A configured criterion is left out (missing_criteria) when it has no data at all or its
--   source has no row in source_reliability; the weights of the others are then rescaled:
--   priority_score = sum(points) / sum(weight x reliability of the criteria used), 0..1:
--   a less reliable source weighs less against the others, while the score stays on the
--   class thresholds' scale, so a late feed does not push every account down a class.
--   priority_class = first class (var scoring.classes) whose min_score the score reaches,
--                    unless a manual override (var scoring_overrides) sets it.
--   reason_1..3    = the criteria bringing the most points, in words, best first.
{%- set cfg = var('scoring') %}
{%- set known = ['volume', 'opportunity', 'growth', 'potential', 'regularity', 'image', 'contribution'] %}
{%- set criteria = cfg.criteria %}
{%- set used = [] %}
{%- for name, spec in criteria.items() if spec.weight > 0 %}{% do used.append(name) %}{% endfor %}
{#- Sums over the criteria used, one term per line: the weights actually used, the names
    of the criteria left out, the points. -#}
{%- set weight_terms, missing_terms, points_terms = ['0'], ["''"], [] %}
{%- set trusted_terms = ['0'] %}
{%- for name in used %}
    {%- do weight_terms.append(
        "case when availability.has_" ~ name ~ " then " ~ criteria[name].weight ~ " else 0 end") %}
    {%- do trusted_terms.append(
        "case when availability.has_" ~ name ~ " then " ~ criteria[name].weight
        ~ " * reliability_" ~ name ~ ".reliability else 0 end") %}
    {%- do missing_terms.append(
        "case when availability.has_" ~ name ~ " then '' else '" ~ name ~ " (no data from "
        ~ criteria[name].source ~ "), ' end") %}
    {%- do points_terms.append("coalesce(" ~ name ~ "_points, 0)") %}
{%- endfor %}
{%- set weight_used_sql = weight_terms | join('\n            + ') %}
{%- set trusted_weight_sql = trusted_terms | join('\n            + ') %}
{%- set missing_sql = missing_terms | join('\n            || ') %}
{%- set points_sum_sql = points_terms | join('\n                    + ') %}
{#- Reason sentences: a criterion is a reason when it brings points and the account is in
    the upper half of the company on it (normalized >= 0.5). -#}
{%- set sentences = {
    'volume': dbt.concat(["'high current volume: '", scoring_eur_text('criteria.revenue_r12'),
        "' in 12 months ('", scoring_top_text('criteria.volume_normalized'), "' of accounts)'"]),
    'opportunity': dbt.concat(["'large untapped share: '", scoring_pct_text('criteria.share_of_wallet'),
        "' vs '", scoring_pct_text('criteria.target_share_of_wallet'),
        "' for similar accounts ('", scoring_eur_text('criteria.opportunity_eur'),
        "' a year to gain)'"]),
    'growth': "case when criteria.revenue_p12 > 0 and criteria.growth_pct > 0 then "
        ~ dbt.concat(["'growing: +'",
        "cast(cast(round(criteria.growth_pct, 0) as " ~ dbt.type_bigint() ~ ") as " ~ dbt.type_string() ~ ")",
        "'% vs the previous 12 months'"])
        ~ " when criteria.revenue_p12 > 0 then " ~ dbt.concat(["'holding up better than most: '",
        "cast(cast(round(criteria.growth_pct, 0) as " ~ dbt.type_bigint() ~ ") as " ~ dbt.type_string() ~ ")",
        "'% vs the previous 12 months'"])
        ~ " else 'new buyer: nothing bought in the previous 12 months' end",
    'potential': dbt.concat(["'large category potential: '", scoring_eur_text('criteria.potential_eur'),
        "' a year, all brands ('", scoring_top_text('criteria.potential_normalized'), "' of accounts)'"]),
    'regularity': dbt.concat(["'regular buyer: purchases in '",
        "cast(criteria.months_with_purchases_r12 as " ~ dbt.type_string() ~ ")",
        "' of the last 12 months'"]),
    'image': dbt.concat(["'strong online image: '",
        scoring_top_text('criteria.image_normalized'), "' of its channel'"]),
    'contribution': dbt.concat(["'high contribution after cost to serve ('",
        scoring_top_text('criteria.contribution_normalized'), "' of accounts)'"]),
} %}
with

criteria as (

    select * from {{ ref('int_scoring__criteria') }}

),

segments as (

    select * from {{ ref('account_segments') }}

),

reliability as (

    select * from {{ ref('source_reliability') }}

),

availability as (

    select
        {%- for name in used %}
            count(criteria.{{ name }}_normalized) > 0
            and max(reliability_{{ name }}.reliability) is not null as has_{{ name }},
        {%- endfor %}
        count(*) as accounts_count
    from criteria
    {%- for name in used %}
        left join reliability as reliability_{{ name }}
            on reliability_{{ name }}.source_name = '{{ criteria[name].source }}'
    {%- endfor %}

),

pointed as (

    select
        criteria.*,
        segments.segment,
        segments.tier,
        segments.plan,
        {%- for name in known %}
            {%- if name in used %}
                case
                    when availability.has_{{ name }}
                        then {{ criteria[name].weight }} * reliability_{{ name }}.reliability
                            * coalesce(criteria.{{ name }}_normalized, 0)
                end as {{ name }}_points,
            {%- else %}
                cast(null as {{ type_double() }}) as {{ name }}_points,
            {%- endif %}
        {%- endfor %}
        {{ weight_used_sql }} as criteria_weight_used,
        {{ trusted_weight_sql }} as trusted_weight_used,
        nullif(rtrim({{ missing_sql }}, ', '), '') as missing_criteria
    from criteria
    inner join segments on criteria.account_id = segments.account_id
    cross join availability
    {%- for name in used %}
        left join reliability as reliability_{{ name }}
            on reliability_{{ name }}.source_name = '{{ criteria[name].source }}'
    {%- endfor %}

),

scored as (

    select
        *,
        case
            when trusted_weight_used > 0
                then ({{ points_sum_sql }}) / trusted_weight_used
            else 0
        end as priority_score
    from pointed

),

reasons as (

    {%- for name in used %}
        select
            criteria.account_id,
            '{{ name }}' as criterion,
            criteria.{{ name }}_points as points,
            {{ sentences[name] }} as sentence
        from scored as criteria
        where criteria.{{ name }}_points > 0 and criteria.{{ name }}_normalized >= 0.5
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

ranked_reasons as (

    select
        account_id,
        sentence,
        row_number() over (partition by account_id order by points desc, criterion asc) as reason_rank
    from reasons

),

top_reasons as (

    select
        account_id,
        max(case when reason_rank = 1 then sentence end) as reason_1_found,
        max(case when reason_rank = 2 then sentence end) as reason_2,
        max(case when reason_rank = 3 then sentence end) as reason_3
    from ranked_reasons
    where reason_rank <= 3
    group by account_id

),

classed as (

    select
        scored.*,
        coalesce(
            top_reasons.reason_1_found, 'no criterion in the upper half of the company'
        ) as reason_1,
        top_reasons.reason_2,
        top_reasons.reason_3,
        {{ scoring_band('round(scored.priority_score, 6)', cfg.classes, 'min_score') }}
            as computed_priority_class
    from scored
    left join top_reasons on scored.account_id = top_reasons.account_id

),

overridden as (

    select
        *,
        {{ scoring_override('priority_class', 'computed_priority_class') }} as priority_class,
        {{ scoring_override_audit({'priority_class': 'computed_priority_class'}, ['priority_class']) }}
    from classed

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(segment as {{ dbt.type_string() }}) as segment,
        cast(tier as {{ dbt.type_string() }}) as tier,
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(round(priority_score, 6) as {{ type_double() }}) as priority_score,
        {%- for name in known %}
            cast(round({{ name }}_points, 6) as {{ type_double() }}) as {{ name }}_points,
        {%- endfor %}
        cast(criteria_weight_used as {{ type_double() }}) as criteria_weight_used,
        cast(missing_criteria as {{ dbt.type_string() }}) as missing_criteria,
        cast(computed_priority_class as {{ dbt.type_string() }}) as computed_priority_class,
        cast(priority_class as {{ dbt.type_string() }}) as priority_class,
        cast(case
            {%- for c in cfg.classes %}
                when priority_class = '{{ c.name }}' then {{ c.calls_per_year }}
            {%- endfor %}
        end as {{ dbt.type_bigint() }}) as calls_per_year,
        cast(case
            {%- for c in cfg.classes %}
                when priority_class = '{{ c.name }}' then '{{ c.guideline | replace("'", "''") }}'
            {%- endfor %}
        end as {{ dbt.type_string() }}) as call_guideline,
        cast(row_number() over (order by priority_score desc, account_id asc) as {{ dbt.type_bigint() }})
            as rank_overall,
        cast(row_number() over (
            partition by territory_id order by priority_score desc, account_id asc
        ) as {{ dbt.type_bigint() }}) as rank_in_territory,
        cast(row_number() over (
            partition by segment order by priority_score desc, account_id asc
        ) as {{ dbt.type_bigint() }}) as rank_in_segment,
        cast(reason_1 as {{ dbt.type_string() }}) as reason_1,
        cast(reason_2 as {{ dbt.type_string() }}) as reason_2,
        cast(reason_3 as {{ dbt.type_string() }}) as reason_3,
        cast(overridden_fields is not null as {{ dbt.type_boolean() }}) as is_overridden,
        cast(override_note as {{ dbt.type_string() }}) as override_note
    from overridden

)

select * from final
