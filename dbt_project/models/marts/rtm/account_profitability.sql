-- Grain: one row per active CRM account (account_id), over the r12 window (var as_of_month).
--   gross_margin_eur   = sum over the account's r12 sales lines of bottles x product unit
--                        margin x factor (int_rtm__margin_lines: sell-out x
--                        rtm.profitability.distributor_margin_factor, direct invoices x 1)
--   call_cost_eur      = sum over r12 calls of (duration + travel for a visit) / 60 x hourly
--                        cost of the resource type (int_rtm__calls_costed)
--   ap_spend_eur / incentive_spend_eur = r12 A&P spend, split by
--                        rtm.profitability.incentive_spend_types
--   cost_to_serve_eur  = call_cost_eur + ap_spend_eur + incentive_spend_eur
--   contribution_eur   = gross_margin_eur - cost_to_serve_eur; is_loss_making when < 0
--   loss_reason        = the largest cost component in words, against the margin.
-- Reads no scoring model (the scoring criterion `contribution` reads this mart).
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where is_active

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

margins as (

    select
        account_id,
        sum(revenue_eur) as revenue_r12,
        sum(coalesce(quantity_bottles, 0)) as bottles_r12,
        sum(case when line_source = 'sell_out' then coalesce(gross_margin_eur, 0) else 0 end)
            as sell_out_margin_eur,
        sum(case when line_source = 'direct_sell_in' then coalesce(gross_margin_eur, 0) else 0 end)
            as direct_margin_eur,
        sum(case when gross_margin_eur is null then 1 else 0 end) as unpriced_lines_r12
    from {{ ref('int_rtm__margin_lines') }}
    group by account_id

),

calls as (

    select * from {{ ref('int_rtm__calls_by_account') }}

),

spend as (

    select * from {{ ref('int_rtm__profitability_spend') }}

),

joined as (

    select
        accounts.account_id,
        periods.as_of_month,
        accounts.territory_id,
        accounts.owner_rep_id,
        accounts.channel,
        accounts.is_direct,
        coalesce(margins.revenue_r12, 0) as revenue_r12,
        coalesce(margins.bottles_r12, 0) as bottles_r12,
        coalesce(margins.unpriced_lines_r12, 0) as unpriced_lines_r12,
        round(coalesce(margins.sell_out_margin_eur, 0), 2) as sell_out_margin_eur,
        round(coalesce(margins.direct_margin_eur, 0), 2) as direct_margin_eur,
        coalesce(calls.calls_r12, 0) as calls_r12,
        coalesce(calls.visits_r12, 0) as visits_r12,
        coalesce(calls.call_hours_r12, 0) as call_hours_r12,
        round(coalesce(calls.call_cost_eur, 0), 2) as call_cost_eur,
        round(coalesce(spend.ap_spend_eur, 0), 2) as ap_spend_eur,
        round(coalesce(spend.incentive_spend_eur, 0), 2) as incentive_spend_eur
    from accounts
    cross join periods
    left join margins on accounts.account_id = margins.account_id
    left join calls on accounts.account_id = calls.account_id
    left join spend on accounts.account_id = spend.account_id

),

measured as (

    select
        *,
        sell_out_margin_eur + direct_margin_eur as gross_margin_eur,
        call_cost_eur + ap_spend_eur + incentive_spend_eur as cost_to_serve_eur,
        sell_out_margin_eur + direct_margin_eur
        - (call_cost_eur + ap_spend_eur + incentive_spend_eur) as contribution_eur,
        -- Largest cost component (ties: calls, then A&P, then incentives).
        case
            when call_cost_eur + ap_spend_eur + incentive_spend_eur = 0 then null
            when call_cost_eur >= ap_spend_eur and call_cost_eur >= incentive_spend_eur
                then 'calls'
            when ap_spend_eur >= incentive_spend_eur then 'ap_spend'
            else 'incentives'
        end as largest_cost_component
    from joined

),

explained as (

    select
        *,
        contribution_eur < 0 as is_loss_making,
        case largest_cost_component
            when 'calls' then call_cost_eur
            when 'ap_spend' then ap_spend_eur
            when 'incentives' then incentive_spend_eur
        end as largest_cost_eur,
        case largest_cost_component
            when 'calls' then {{ dbt.concat([
                "'cost of '", rtm_int_text('calls_r12'),
                "case when calls_r12 = 1 then ' call (' else ' calls (' end",
                scoring_eur_text('call_cost_eur'), "')'"]) }}
            when 'ap_spend'
                then {{ dbt.concat(["'A&P spend '", scoring_eur_text('ap_spend_eur')]) }}
            when 'incentives'
                then {{ dbt.concat(["'incentive spend '", scoring_eur_text('incentive_spend_eur')]) }}
        end as largest_cost_text
    from measured

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(owner_rep_id as {{ dbt.type_string() }}) as owner_rep_id,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(is_direct as {{ dbt.type_boolean() }}) as is_direct,
        cast(round(revenue_r12, 2) as {{ type_double() }}) as revenue_r12,
        cast(round(bottles_r12, 2) as {{ type_double() }}) as bottles_r12,
        cast(unpriced_lines_r12 as {{ dbt.type_bigint() }}) as unpriced_lines_r12,
        cast(sell_out_margin_eur as {{ type_double() }}) as sell_out_margin_eur,
        cast(direct_margin_eur as {{ type_double() }}) as direct_margin_eur,
        cast(round(gross_margin_eur, 2) as {{ type_double() }}) as gross_margin_eur,
        cast(calls_r12 as {{ dbt.type_bigint() }}) as calls_r12,
        cast(visits_r12 as {{ dbt.type_bigint() }}) as visits_r12,
        cast(round(call_hours_r12, 2) as {{ type_double() }}) as call_hours_r12,
        cast(call_cost_eur as {{ type_double() }}) as call_cost_eur,
        cast(ap_spend_eur as {{ type_double() }}) as ap_spend_eur,
        cast(incentive_spend_eur as {{ type_double() }}) as incentive_spend_eur,
        cast(round(cost_to_serve_eur, 2) as {{ type_double() }}) as cost_to_serve_eur,
        cast(round(contribution_eur, 2) as {{ type_double() }}) as contribution_eur,
        cast(case
            when call_hours_r12 > 0 then round(contribution_eur / call_hours_r12, 2)
        end as {{ type_double() }}) as contribution_per_call_hour,
        cast(is_loss_making as {{ dbt.type_boolean() }}) as is_loss_making,
        cast(case when is_loss_making then largest_cost_component end as {{ dbt.type_string() }})
            as loss_driver,
        cast(case
            when not is_loss_making then null
            when largest_cost_component is null
                then {{ dbt.concat(["'negative gross margin '", scoring_eur_text('gross_margin_eur'),
                    "' (returns exceed sales), no cost to serve'"]) }}
            when largest_cost_eur > gross_margin_eur
                then {{ dbt.concat(["largest_cost_text", "' exceeds gross margin '",
                    scoring_eur_text('gross_margin_eur')]) }}
            else {{ dbt.concat(["'cost to serve '", scoring_eur_text('cost_to_serve_eur'),
                "' exceeds gross margin '", scoring_eur_text('gross_margin_eur'),
                "'; largest: '", "largest_cost_text"]) }}
        end as {{ dbt.type_string() }}) as loss_reason
    from explained

)

select * from final
