-- Grain: one row per CRM account (account_id): the zone its postcode lies in, from the
-- reference stg_reference__postcode_zones (company.yaml source postcode_zones; every zone_id
-- null when the company does not deliver it). A postcode spanning several zones gets one,
-- by this rule (zone_rule):
--   single        - the postcode lies in one zone
--   weight        - the zone with the largest zone_weight (share of the postcode), when given
--   nearest       - else, for an account with coordinates, the zone whose unambiguous accounts
--                   (postcode in that zone only) have their centre nearest to it
--   city_majority - else the zone holding most of the accounts of the same city whose postcode
--                   lies in one zone only (where the town is)
--   lowest_id     - else the lowest zone_id (deterministic)
-- candidate_zones counts the zones of the postcode (> 1: the postcode spans several zones).
-- Rebuilt only when its inputs changed (macros/table_on_input_change.sql): most nights
-- bring none of them.
{{ config(materialized='table_on_input_change') }}
with

accounts as (

    select
        account_id,
        postcode,
        upper(city) as city,
        latitude,
        longitude
    from {{ ref('stg_crm__accounts') }}

),

zones as (

    select * from {{ ref('stg_reference__postcode_zones') }}

),

candidates as (

    select
        accounts.account_id,
        accounts.city,
        accounts.latitude,
        accounts.longitude,
        zones.zone_id,
        zones.zone_name,
        zones.zone_weight,
        count(*) over (partition by accounts.account_id) as candidate_zones
    from accounts
    inner join zones on accounts.postcode = zones.postcode

),

city_votes as (

    select
        city,
        zone_id,
        count(*) as accounts_in_zone
    from candidates
    where candidate_zones = 1
    group by city, zone_id

),

zone_centres as (

    select
        zone_id,
        avg(latitude) as centre_latitude,
        avg(longitude) as centre_longitude
    from candidates
    where candidate_zones = 1 and latitude is not null and longitude is not null
    group by zone_id

),

measured as (

    select
        candidates.*,
        coalesce(city_votes.accounts_in_zone, 0) as city_votes,
        -- squared distance in degrees, longitude shrunk by cos(latitude): a ranking only
        power(candidates.latitude - zone_centres.centre_latitude, 2)
        + power(
            (candidates.longitude - zone_centres.centre_longitude)
            * cos(radians(candidates.latitude)), 2
        ) as centre_distance
    from candidates
    left join city_votes
        on candidates.city = city_votes.city and candidates.zone_id = city_votes.zone_id
    left join zone_centres on candidates.zone_id = zone_centres.zone_id

),

ranked as (

    select
        measured.*,
        row_number() over (
            partition by measured.account_id
            order by
                measured.zone_weight desc nulls last,
                measured.centre_distance asc nulls last,
                measured.city_votes desc,
                measured.zone_id asc
        ) as zone_rank,
        max(measured.zone_weight) over (partition by measured.account_id) as max_weight,
        min(measured.centre_distance) over (partition by measured.account_id) as min_distance,
        max(measured.city_votes) over (partition by measured.account_id) as max_votes
    from measured

),

final as (

    select
        accounts.account_id,
        accounts.postcode,
        ranked.zone_id,
        ranked.zone_name,
        coalesce(ranked.candidate_zones, 0) as candidate_zones,
        case
            when ranked.zone_id is null then null
            when ranked.candidate_zones = 1 then 'single'
            when ranked.max_weight is not null then 'weight'
            when ranked.min_distance is not null then 'nearest'
            when ranked.max_votes > 0 then 'city_majority'
            else 'lowest_id'
        end as zone_rule
    from accounts
    left join ranked on accounts.account_id = ranked.account_id and ranked.zone_rank = 1

)

select * from final
