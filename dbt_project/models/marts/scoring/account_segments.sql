{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per active CRM account (account_id), for as_of_month. Segments from the
-- scoring config (var scoring, examples/sample_company/scoring.yaml), then manual overrides
-- (var scoring_overrides), which win:
--   tier            Pareto on revenue_r12: accounts sorted by revenue (desc, then account_id);
--                   an account's tier is the first whose max_cumulative_share exceeds the
--                   share of company revenue made by the accounts before it. Non-buyers get
--                   the last tier.
--   partner_ranking non_buyer (no month with purchases in r12), loyal (>= loyal_min_months
--                   and share >= loyal_min_share), occasional (>= occasional_min_months),
--                   else opportunist.
--   supplier_status first band whose min_share the share of wallet reaches; null without
--                   a share of wallet (no potential).
--   mode            prospection (no revenue or share < prospection_max_share), cruise (share
--                   >= cruise_min_share), else development.
--   plan            first plan_rules entry matching mode, opportunity level and tier (after
--                   their overrides); opportunity level = high when the opportunity_eur
--                   percentile >= high_opportunity_min_percentile and opportunity_eur > 0.
{%- set cfg = var('scoring') %}
{#- The plan rules as CASE branches: every condition a rule names must hold. -#}
{%- set plan_whens = [] %}
{%- for rule in cfg.plan_rules %}
    {%- set conditions = [] %}
    {%- for field, column in [('mode', 'mode'), ('opportunity', 'opportunity_level'), ('tier', 'tier')] %}
        {%- if rule[field] %}
            {%- do conditions.append(column ~ " in ('" ~ rule[field] | join("', '") ~ "')") %}
        {%- endif %}
    {%- endfor %}
    {%- do plan_whens.append("when " ~ (conditions | join(' and ') if conditions else 'true')
        ~ " then '" ~ rule.plan ~ "'") %}
{%- endfor %}
{#- Contact model per tier; tiers in distributor_managed_tiers are left to the distributor
    unless the account buys direct. -#}
{%- set contact_whens = [] %}
{%- for tier_name, t in cfg.treatments.items() %}
    {%- if tier_name in cfg.distributor_managed_tiers %}
        {%- do contact_whens.append(
            "when tier = '" ~ tier_name ~ "' and not is_direct then 'distributor_managed'") %}
    {%- endif %}
    {%- do contact_whens.append("when tier = '" ~ tier_name ~ "' then '" ~ t.contact_model ~ "'") %}
{%- endfor %}
{%- set tiers = cfg.tiers %}
{%- set last_tier = tiers[-1].name %}
{%- set pr = cfg.partner_ranking %}
{%- set fields = ['tier', 'partner_ranking', 'supplier_status', 'mode', 'plan'] %}
with

criteria as (

    select * from {{ ref('int_scoring__criteria') }}

),

cumulated as (

    select
        *,
        sum(greatest(revenue_r12, 0)) over () as total_revenue,
        coalesce(sum(greatest(revenue_r12, 0)) over (
            order by revenue_r12 desc, account_id asc
            rows between unbounded preceding and 1 preceding
        ), 0) as revenue_before
    from criteria

),

computed as (

    select
        *,
        case
            when total_revenue > 0
                then (revenue_before + greatest(revenue_r12, 0)) / total_revenue
        end as cumulative_revenue_share,
        case
            when revenue_r12 <= 0 or total_revenue <= 0 then '{{ last_tier }}'
            {%- for tier in tiers[:-1] %}
                when revenue_before / total_revenue < {{ tier.max_cumulative_share }}
                    then '{{ tier.name }}'
            {%- endfor %}
            else '{{ last_tier }}'
        end as computed_tier,
        case
            when months_with_purchases_r12 = 0 then 'non_buyer'
            when
                months_with_purchases_r12 >= {{ pr.loyal_min_months }}
                and coalesce(share_of_wallet, 0) >= {{ pr.loyal_min_share }}
                then 'loyal'
            when months_with_purchases_r12 >= {{ pr.occasional_min_months }} then 'occasional'
            else 'opportunist'
        end as computed_partner_ranking,
        {{ scoring_band('share_of_wallet', cfg.supplier_status, 'min_share') }}
            as computed_supplier_status,
        case
            when revenue_r12 <= 0 or coalesce(share_of_wallet, 0) < {{ cfg.mode.prospection_max_share }}
                then 'prospection'
            when share_of_wallet >= {{ cfg.mode.cruise_min_share }} then 'cruise'
            else 'development'
        end as computed_mode,
        case
            when
                opportunity_eur > 0
                and opportunity_normalized >= {{ cfg.high_opportunity_min_percentile }}
                then 'high'
            else 'low'
        end as opportunity_level
    from cumulated

),

overridden as (

    select
        *,
        {{ scoring_override('tier', 'computed_tier') }} as tier,
        {{ scoring_override('partner_ranking', 'computed_partner_ranking') }} as partner_ranking,
        {{ scoring_override('supplier_status', 'computed_supplier_status') }} as supplier_status,
        {{ scoring_override('mode', 'computed_mode') }} as mode  -- noqa: RF04
    from computed

),

planned as (

    select
        *,
        case
            {%- for plan_when in plan_whens %}
                {{ plan_when }}
            {%- endfor %}
        end as computed_plan
    from overridden

),

final_plan as (

    select
        *,
        {{ scoring_override('plan', 'computed_plan') }} as plan,
        {{ scoring_override_audit({
            'tier': 'computed_tier',
            'partner_ranking': 'computed_partner_ranking',
            'supplier_status': 'computed_supplier_status',
            'mode': 'computed_mode',
            'plan': 'computed_plan'}, fields) }}
    from planned

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(is_direct as {{ dbt.type_boolean() }}) as is_direct,
        cast(revenue_r12 as {{ type_double() }}) as revenue_r12,
        cast(round(cumulative_revenue_share, 6) as {{ type_double() }}) as cumulative_revenue_share,
        cast(share_of_wallet as {{ type_double() }}) as share_of_wallet,
        cast(target_share_of_wallet as {{ type_double() }}) as target_share_of_wallet,
        cast(opportunity_eur as {{ type_double() }}) as opportunity_eur,
        cast(round(opportunity_normalized, 4) as {{ type_double() }}) as opportunity_percentile,
        cast(opportunity_level as {{ dbt.type_string() }}) as opportunity_level,
        cast(tier as {{ dbt.type_string() }}) as tier,
        cast(partner_ranking as {{ dbt.type_string() }}) as partner_ranking,
        cast(supplier_status as {{ dbt.type_string() }}) as supplier_status,
        cast(mode as {{ dbt.type_string() }}) as mode,  -- noqa: RF04
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast({{ dbt.concat(["channel", "' / '", "tier"]) }} as {{ dbt.type_string() }}) as segment,
        cast(case
            {%- for contact_when in contact_whens %}
                {{ contact_when }}
            {%- endfor %}
        end as {{ dbt.type_string() }}) as contact_model,
        cast(case
            {%- for tier_name, t in cfg.treatments.items() %}
                when tier = '{{ tier_name }}' then '{{ t.treatment | replace("'", "''") }}'
            {%- endfor %}
        end as {{ dbt.type_string() }}) as treatment,
        cast(overridden_fields is not null as {{ dbt.type_boolean() }}) as is_overridden,
        cast(overridden_fields as {{ dbt.type_string() }}) as overridden_fields,
        cast(override_note as {{ dbt.type_string() }}) as override_note
    from final_plan

)

select * from final
