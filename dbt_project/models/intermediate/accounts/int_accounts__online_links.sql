-- Grain: one row per online listing (listing_id, latest version), with the CRM account it
-- belongs to. The account-linking engine's crosswalk (source linking.account_crosswalk:
-- keys, Splink on name + address + postcode + city + phone, the human overrides file
-- examples/sample_company/link_overrides.csv, links kept from night to night) decides for
-- every listing it has. A listing it does not have (a database built without the linking
-- step) falls back to deterministic rules, first hit wins: normalized phone > web site host
-- within the same department > normalized name + postcode + house number > normalized
-- name + postcode (refused when house numbers differ).
with

listings as (

    select * from {{ ref('stg_online__listings') }}

),

keyed as (

    select
        *,
        {{ street_number('address') }} as street_number,
        {{ normalize_phone('phone') }} as phone_key,
        case
            when {{ normalize_website('website') }} is not null and department_code is not null
                then {{ dbt.concat([normalize_website('website'), "'|'", "department_code"]) }}
        end as website_key,
        {{ name_postcode_keys('listing_name', 'postcode', 'address') }}
    from listings

),

linked as (

    select
        keyed.listing_id,
        keyed.platform,
        keyed.listing_name,
        keyed.address,
        keyed.postcode,
        keyed.city,
        keyed.phone,
        keyed.website,
        keyed.latitude,
        keyed.longitude,
        keyed.rating,
        keyed.review_count,
        keyed.followers,
        keyed.last_activity_date,
        keyed.updated_at,
        {{ crm_link_columns(['phone', 'website', 'name_postcode_number', 'name_postcode']) }}
    from keyed
    {{ crm_link_joins(['phone', 'website', 'name_postcode_number', 'name_postcode']) }}

),

crosswalk as (

    select
        source,
        source_code as listing_id,
        account_id,
        {{ crosswalk_match_method() }} as match_method,
        match_rule,
        match_probability,
        evidence
    from ({{ account_crosswalk('online:') }}) as crosswalk_rows

),

joined as (

    -- the deterministic decision stands only when the crosswalk has no row for the listing
    select
        linked.*,
        {{ crosswalk_columns('listing_id') }}
    from linked
    left join crosswalk
        on
            linked.listing_id = crosswalk.listing_id
            and {{ dbt.concat(["'online:'", "linked.platform"]) }} = crosswalk.source

),

decided as (

    select
        listing_id,
        platform,
        listing_name,
        address,
        postcode,
        city,
        phone,
        website,
        latitude,
        longitude,
        rating,
        review_count,
        followers,
        last_activity_date,
        updated_at,
        {{ link_decision_columns() }},
        has_conflicting_keys,
        has_ambiguous_candidates
    from joined

),

final as (

    select
        *,
        account_id is not null as is_linked
    from decided

)

select * from final
