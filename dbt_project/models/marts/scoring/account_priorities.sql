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
{%- set qualifies = {} %}
{%- for name in used %}
    {%- do qualifies.update({name: '(criteria.' ~ name ~ '_points > 0 and criteria.'
        ~ name ~ '_normalized >= 0.5)'}) %}
{%- endfor %}
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
{#- The rank of each criterion among the account's reasons, and the three reasons' sentences. -#}
{%- set rank_sql, reason_sql = {}, {} %}
{%- for name in used %}
    {%- set terms = ['1'] %}
    {%- for other in used if other != name %}
        {%- do terms.append('case when ' ~ qualifies[other] ~ ' and criteria.' ~ other ~ '_points '
            ~ ('>=' if other < name else '>') ~ ' criteria.' ~ name ~ '_points then 1 else 0 end') %}
    {%- endfor %}
    {%- do rank_sql.update({name: terms | join('\n            + ')}) %}
{%- endfor %}
{%- for rank in [1, 2, 3] %}
    {%- set whens = [] %}
    {%- for name in used %}
        {%- do whens.append('when ' ~ qualifies[name] ~ ' and criteria.reason_rank_' ~ name ~ ' = ' ~ rank
            ~ ' then ' ~ sentences[name]) %}
    {%- endfor %}
    {%- do reason_sql.update({rank: 'case\n                ' ~ whens | join('\n                ')
        ~ '\n            end'}) %}
{%- endfor %}
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

reason_ranks as (

    -- The reasons are ranked within the row: a criterion qualifies when it brings points
    -- and the account is in the upper half on it; its rank = 1 + the qualifying criteria
    -- that bring more points (equal points: the name first in alphabetical order), as a
    -- row_number over (points desc, criterion asc) would give. At 1M accounts this replaces
    -- unpivoting 2.7 M (account, criterion) rows, a window over them and a group-by back.
    select
        {%- for name in used %}
            {{ rank_sql[name] }} as reason_rank_{{ name }},
        {%- endfor %}
        criteria.*
    from scored as criteria

),

classed as (

    select
        criteria.*,
        coalesce(
            {{ reason_sql[1] }},
            'no criterion in the upper half of the company'
        ) as reason_1,
        {{ reason_sql[2] }} as reason_2,
        {{ reason_sql[3] }} as reason_3,
        {{ scoring_band('round(criteria.priority_score, 6)', cfg.classes, 'min_score') }}
            as computed_priority_class
    from reason_ranks as criteria

),

overridden as (

    select
        *,
        {{ scoring_override('priority_class', 'computed_priority_class') }} as priority_class,
        {{ scoring_override_audit({'priority_class': 'computed_priority_class'}, ['priority_class']) }}
    from classed

),

ranks as (

    -- The ranks on the four columns they need, joined back by account: a window carries
    -- every column of its input through its sort, and the reason sentences made that three
    -- sorts of the whole wide row. The territory and segment ranks follow the overall order
    -- within their partitions (one integer to sort on instead of the score and the id).
    select
        account_id,
        row_number() over (order by priority_score desc, account_id asc) as overall_rank,
        territory_id,
        segment
    from scored

),

ranked as (

    select
        account_id,
        overall_rank,
        row_number() over (partition by territory_id order by overall_rank) as territory_rank,
        row_number() over (partition by segment order by overall_rank) as segment_rank
    from ranks

),

final as (

    select
        cast(overridden.account_id as {{ dbt.type_string() }}) as account_id,
        cast(overridden.as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(overridden.territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(overridden.segment as {{ dbt.type_string() }}) as segment,
        cast(overridden.tier as {{ dbt.type_string() }}) as tier,
        cast(overridden.plan as {{ dbt.type_string() }}) as plan,
        cast(round(overridden.priority_score, 6) as {{ type_double() }}) as priority_score,
        {%- for name in known %}
            cast(round(overridden.{{ name }}_points, 6) as {{ type_double() }}) as {{ name }}_points,
        {%- endfor %}
        cast(overridden.criteria_weight_used as {{ type_double() }}) as criteria_weight_used,
        cast(overridden.missing_criteria as {{ dbt.type_string() }}) as missing_criteria,
        cast(overridden.computed_priority_class as {{ dbt.type_string() }}) as computed_priority_class,
        cast(overridden.priority_class as {{ dbt.type_string() }}) as priority_class,
        cast(case
            {%- for c in cfg.classes %}
                when overridden.priority_class = '{{ c.name }}' then {{ c.calls_per_year }}
            {%- endfor %}
        end as {{ dbt.type_bigint() }}) as calls_per_year,
        cast(case
            {%- for c in cfg.classes %}
                when overridden.priority_class = '{{ c.name }}' then '{{ c.guideline | replace("'", "''") }}'
            {%- endfor %}
        end as {{ dbt.type_string() }}) as call_guideline,
        cast(ranked.overall_rank as {{ dbt.type_bigint() }}) as rank_overall,
        cast(ranked.territory_rank as {{ dbt.type_bigint() }}) as rank_in_territory,
        cast(ranked.segment_rank as {{ dbt.type_bigint() }}) as rank_in_segment,
        cast(overridden.reason_1 as {{ dbt.type_string() }}) as reason_1,
        cast(overridden.reason_2 as {{ dbt.type_string() }}) as reason_2,
        cast(overridden.reason_3 as {{ dbt.type_string() }}) as reason_3,
        cast(overridden.overridden_fields is not null as {{ dbt.type_boolean() }}) as is_overridden,
        cast(overridden.override_note as {{ dbt.type_string() }}) as override_note
    from overridden
    inner join ranked on overridden.account_id = ranked.account_id

)

select * from final
