-- Grain: one row per online listing (listing_id, latest version), with the CRM account it
-- belongs to: normalized phone first, then web site host within the same department, then
-- normalized name + postcode.
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
        case
            when {{ normalize_name('listing_name') }} is not null and postcode is not null
                then {{ dbt.concat([normalize_name('listing_name'), "'|'", "postcode"]) }}
        end as name_postcode_key,
        case
            when
                {{ normalize_name('listing_name') }} is not null
                and postcode is not null
                and {{ street_number('address') }} is not null
                then {{ dbt.concat([
                    normalize_name('listing_name'), "'|'", "postcode", "'|'", street_number('address')
                ]) }}
        end as name_postcode_number_key
    from listings

),

linked as (

    select
        keyed.listing_id,
        keyed.platform,
        keyed.listing_name,
        keyed.postcode,
        keyed.rating,
        keyed.review_count,
        keyed.followers,
        keyed.last_activity_date,
        keyed.updated_at,
        {{ crm_link_columns(['phone', 'website', 'name_postcode_number', 'name_postcode']) }}
    from keyed
    {{ crm_link_joins(['phone', 'website', 'name_postcode_number', 'name_postcode']) }}

),

final as (

    select
        *,
        account_id is not null as is_linked
    from linked

)

select * from final
