-- Grain: one row per active account (account_segments): the matching cell of the A&P
-- difference in differences (channel x size band, 'unknown' when missing), its tier and plan
-- today, and whether it ever received A&P spend of any type (never-spent accounts are the
-- comparison pool).
with

segments as (

    select
        account_id,
        channel,
        tier,
        plan
    from {{ ref('account_segments') }}

),

potential as (

    select
        account_id,
        size_band
    from {{ ref('int_accounts__potential') }}

),

spenders as (

    select distinct account_id
    from {{ ref('stg_marketing__ap_spend') }}

),

final as (

    select
        segments.account_id,
        segments.tier,
        segments.plan,
        coalesce(segments.channel, 'unknown') as channel,
        coalesce(potential.size_band, 'unknown') as size_band,
        spenders.account_id is not null as received_ap_spend
    from segments
    left join potential on segments.account_id = potential.account_id
    left join spenders on segments.account_id = spenders.account_id

)

select * from final
