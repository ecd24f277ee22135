-- Grain: one row per CRM account (account_id): its yearly category potential in EUR (all
-- brands of the category) and how it was obtained (potential_method):
--   market_purchases - when var potential_source = market_purchases (company.yaml): what the
--               account really bought over r12 in our categories from every supplier
--               (int_accounts__market_purchases.category_amount_eur). The feed then covers
--               the whole market, so no other method is used: an account that bought nothing
--               there (or returned more than it bought) has no potential (null), never a
--               modelled guess;
--   external  - the data vendor's estimated_category_spend of the linked external record;
--   survey    - else the latest field survey estimate (not older than
--               var potential_survey_max_age_months, not after the end of as_of_month);
--   modelled  - else the median external potential of comparable accounts (same channel and
--               size band; the channel alone below var potential_min_peers accounts; else
--               var potential_fallback_by_channel) times the zone (department) index.
-- Zone index = median over the department's externally-estimated accounts of
-- (their potential / their peer median), when there are var potential_zone_min_peers of them,
-- bounded to [potential_zone_index_min, potential_zone_index_max]; 1 otherwise.
-- Size band: employees of the external record, else staff count of the latest survey.
-- Estimates of 0 are treated as missing (no vendor/rep would size a served outlet at 0).
{%- set fallback_whens = [] %}
{%- for channel, amount in var('potential_fallback_by_channel').items() %}
    {%- do fallback_whens.append("when '" ~ channel ~ "' then " ~ amount) %}
{%- endfor %}
{%- set fallback_expression = "case profiled.channel " ~ (fallback_whens | join(' ')) ~ " end" %}
{%- set zone_index_min = var('potential_zone_index_min') %}
{%- set use_market = var('potential_source', 'model') == 'market_purchases' %}
{%- set zone_index_max = var('potential_zone_index_max') %}
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

periods as (

    select
        as_of_month_end,
        {{ dbt.dateadd('month', -1 * var('potential_survey_max_age_months'), 'as_of_month_end') }}
            as survey_cutoff_date,
        r12_start,
        r12_end
    from {{ ref('int_reporting__periods') }}

),

market as (

    select
        purchases.account_id,
        sum(purchases.category_amount_eur) as market_potential_eur
    from {{ ref('int_accounts__market_purchases') }} as purchases
    cross join periods
    where purchases.sales_month between periods.r12_start and periods.r12_end
    group by purchases.account_id

),

external_ranked as (

    select
        account_id,
        external_id,
        employees,
        case when estimated_category_spend_eur > 0 then estimated_category_spend_eur end
            as external_potential_eur,
        row_number() over (
            partition by account_id
            order by
                case when estimated_category_spend_eur > 0 then 0 else 1 end asc,
                match_confidence desc,
                loaded_at desc,
                external_id asc
        ) as preference_rank
    from {{ ref('int_accounts__external_links') }}
    where account_id is not null

),

external_records as (

    select * from external_ranked
    where preference_rank = 1

),

surveys_ranked as (

    select
        surveys.account_id,
        surveys.survey_id,
        surveys.survey_date,
        surveys.staff_count,
        case
            when
                surveys.category_spend_estimate_eur > 0
                and surveys.survey_date >= periods.survey_cutoff_date
                then surveys.category_spend_estimate_eur
        end as survey_potential_eur,
        row_number() over (
            partition by surveys.account_id
            order by
                case
                    when
                        surveys.category_spend_estimate_eur > 0
                        and surveys.survey_date >= periods.survey_cutoff_date
                        then 0
                    else 1
                end asc,
                surveys.survey_date desc,
                surveys.survey_id desc
        ) as estimate_rank,
        row_number() over (
            partition by surveys.account_id
            order by
                case when surveys.staff_count is not null then 0 else 1 end asc,
                surveys.survey_date desc,
                surveys.survey_id desc
        ) as staff_rank
    from {{ ref('stg_crm__field_surveys') }} as surveys
    cross join periods
    where surveys.survey_date <= periods.as_of_month_end

),

survey_estimates as (

    select
        account_id,
        survey_id,
        survey_date,
        survey_potential_eur
    from surveys_ranked
    where estimate_rank = 1 and survey_potential_eur is not null

),

survey_staff as (

    select
        account_id,
        staff_count
    from surveys_ranked
    where staff_rank = 1 and staff_count is not null

),

profiled as (

    select
        accounts.account_id,
        accounts.channel,
        accounts.department_code,
        coalesce(external_records.employees, survey_staff.staff_count) as employees,
        case
            when external_records.employees is not null then 'external'
            when survey_staff.staff_count is not null then 'survey'
        end as size_source,
        {{ size_band('coalesce(external_records.employees, survey_staff.staff_count)') }}
            as size_band,
        external_records.external_id,
        external_records.external_potential_eur,
        survey_estimates.survey_id,
        survey_estimates.survey_date,
        survey_estimates.survey_potential_eur,
        {%- if use_market %}
        case when market.market_potential_eur > 0 then market.market_potential_eur end
        {%- else %}
            cast(null as {{ type_double() }})
        {%- endif %} as market_potential_eur
    from accounts
    left join market on accounts.account_id = market.account_id  -- noqa: ST11
    left join external_records on accounts.account_id = external_records.account_id
    left join survey_estimates on accounts.account_id = survey_estimates.account_id
    left join survey_staff on accounts.account_id = survey_staff.account_id

),

cell_peers as (

    select
        channel,
        size_band,
        {{ median('external_potential_eur') }} as median_potential_eur,
        count(*) as peer_count
    from profiled
    where external_potential_eur is not null
    group by channel, size_band

),

channel_peers as (

    select
        channel,
        {{ median('external_potential_eur') }} as median_potential_eur,
        count(*) as peer_count
    from profiled
    where external_potential_eur is not null
    group by channel

),

peer_based as (

    select
        profiled.*,
        case
            when cell_peers.peer_count >= {{ var('potential_min_peers') }}
                then cell_peers.median_potential_eur
            when channel_peers.peer_count >= {{ var('potential_min_peers') }}
                then channel_peers.median_potential_eur
            else {{ fallback_expression }}
        end as peer_potential_eur,
        case
            when cell_peers.peer_count >= {{ var('potential_min_peers') }}
                then 'channel_size_band'
            when channel_peers.peer_count >= {{ var('potential_min_peers') }}
                then 'channel'
            else 'fallback'
        end as peer_basis,
        case
            when cell_peers.peer_count >= {{ var('potential_min_peers') }}
                then cell_peers.peer_count
            when channel_peers.peer_count >= {{ var('potential_min_peers') }}
                then channel_peers.peer_count
            else 0
        end as peer_count
    from profiled
    left join cell_peers
        on
            profiled.channel = cell_peers.channel
            and profiled.size_band = cell_peers.size_band
    left join channel_peers on profiled.channel = channel_peers.channel

),

zones as (

    select
        department_code,
        {{ median('external_potential_eur / peer_potential_eur') }} as median_ratio,
        count(*) as zone_peer_count
    from peer_based
    where
        external_potential_eur is not null
        and peer_potential_eur > 0
        and department_code is not null
    group by department_code

),

modelled as (

    select
        peer_based.*,
        coalesce(zones.zone_peer_count, 0) as zone_peer_count,
        case
            when zones.zone_peer_count >= {{ var('potential_zone_min_peers') }}
                then least(greatest(zones.median_ratio, {{ zone_index_min }}), {{ zone_index_max }})
            else 1.0
        end as zone_index
    from peer_based
    left join zones on peer_based.department_code = zones.department_code

),

final as (

    select
        account_id,
        channel,
        department_code,
        size_band,
        size_source,
        employees,
        external_id,
        external_potential_eur,
        survey_id,
        survey_date,
        survey_potential_eur,
        peer_basis,
        peer_count,
        peer_potential_eur,
        zone_index,
        zone_peer_count,
        peer_potential_eur * zone_index as modelled_potential_eur,
        market_potential_eur,
        {%- if use_market %}
        market_potential_eur as potential_eur,
        'market_purchases' as potential_method
        {%- else %}
            case
                when external_potential_eur is not null then external_potential_eur
                when survey_potential_eur is not null then survey_potential_eur
                else peer_potential_eur * zone_index
            end as potential_eur,
            case
                when external_potential_eur is not null then 'external'
                when survey_potential_eur is not null then 'survey'
                when peer_potential_eur is not null then 'modelled'
            end as potential_method
        {%- endif %}
    from modelled

)

select * from final
