-- Grain: one row per normalized matching key (key_type + key_value) found on CRM accounts,
-- with the single CRM account it identifies. A key shared by several accounts resolves to
-- the only active one among them; when that is still ambiguous account_id is null and the
-- key is not used for linking (is_ambiguous). street_number (house number of the resolved
-- account's address) lets name + postcode links refuse homonyms at another number.
-- Key types: siret (14 digits), phone (normalize_phone), website (host name '|' department:
-- chains and homonyms share a web site across the country, rarely within a department),
-- name_postcode (normalize_name of the trading name or of the legal name, '|', postcode),
-- name_postcode_number (the same, '|', house number: tells homonyms of a postcode apart).
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

normalized as (

    select
        account_id,
        is_active,
        siret,
        {{ normalize_phone('phone') }} as phone_key,
        case
            when {{ normalize_website('website') }} is not null and department_code is not null
                then {{ dbt.concat([normalize_website('website'), "'|'", "department_code"]) }}
        end as website_key,
        {{ normalize_name('account_name') }} as account_name_key,
        {{ normalize_name('legal_name') }} as legal_name_key,
        {{ street_number('address') }} as street_number,
        postcode
    from accounts

),

keys as (

    select
        account_id,
        is_active,
        street_number,
        'siret' as key_type,
        siret as key_value
    from normalized
    where siret is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'phone' as key_type,
        phone_key as key_value
    from normalized
    where phone_key is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'website' as key_type,
        website_key as key_value
    from normalized
    where website_key is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'name_postcode' as key_type,
        {{ dbt.concat(["account_name_key", "'|'", "postcode"]) }} as key_value
    from normalized
    where account_name_key is not null and postcode is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'name_postcode' as key_type,
        {{ dbt.concat(["legal_name_key", "'|'", "postcode"]) }} as key_value
    from normalized
    where legal_name_key is not null and postcode is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'name_postcode_number' as key_type,
        {{ dbt.concat(["account_name_key", "'|'", "postcode", "'|'", "street_number"]) }} as key_value
    from normalized
    where account_name_key is not null and postcode is not null and street_number is not null

    union all

    select
        account_id,
        is_active,
        street_number,
        'name_postcode_number' as key_type,
        {{ dbt.concat(["legal_name_key", "'|'", "postcode", "'|'", "street_number"]) }} as key_value
    from normalized
    where legal_name_key is not null and postcode is not null and street_number is not null

),

resolved as (

    select
        key_type,
        key_value,
        count(distinct account_id) as candidate_count,
        count(distinct case when is_active then account_id end) as active_candidate_count,
        case
            when count(distinct case when is_active then account_id end) = 1
                then max(case when is_active then account_id end)
            when count(distinct account_id) = 1
                then max(account_id)
        end as account_id,
        case
            when count(distinct case when is_active then account_id end) = 1
                then max(case when is_active then street_number end)
            when count(distinct account_id) = 1
                then max(street_number)
        end as street_number
    from keys
    group by key_type, key_value

),

final as (

    select
        {{ dbt.concat(["key_type", "':'", "key_value"]) }} as match_key,
        key_type,
        key_value,
        account_id,
        street_number,
        candidate_count,
        active_candidate_count,
        account_id is null as is_ambiguous
    from resolved

)

select * from final
