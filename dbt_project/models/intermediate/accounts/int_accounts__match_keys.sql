-- Grain: one row per normalized matching key (key_type + key_value) found on CRM accounts,
-- with the single CRM account it identifies. A key shared by several accounts resolves to
-- the only active one among them; when that is still ambiguous account_id is null and the
-- key is not used for linking (is_ambiguous). street_number (house number of the resolved
-- account's address) lets name + postcode links refuse homonyms at another number.
-- Key types: siret (14 digits), phone (normalize_phone), website (host name '|' department:
-- chains and homonyms share a web site across the country, rarely within a department),
-- name_postcode (normalize_name of the trading name or of the legal name, '|', postcode),
-- name_postcode_number (the same, '|', house number: tells homonyms of a postcode apart).
-- Rebuilt only when its inputs changed (macros/table_on_input_change.sql): most nights
-- bring none of them.
{{ config(materialized='table_on_input_change') }}
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

key_types as (

    -- one row per kind of key an account yields (a name gives a key from the trading name
    -- and one from the legal name): the accounts are normalized once and crossed with
    -- these, where a union of one select per key type normalized them once per branch
    select * from (
        values
        (1, 'siret'),
        (2, 'phone'),
        (3, 'website'),
        (4, 'name_postcode'),
        (5, 'name_postcode'),
        (6, 'name_postcode_number'),
        (7, 'name_postcode_number')
    ) as key_type_rows (key_variant, key_type)

),

candidate_keys as (

    select
        normalized.account_id,
        normalized.is_active,
        normalized.street_number,
        key_types.key_type,
        case key_types.key_variant
            when 1 then normalized.siret
            when 2 then normalized.phone_key
            when 3 then normalized.website_key
            when 4 then case
                when normalized.account_name_key is not null and normalized.postcode is not null
                    then {{ dbt.concat(["normalized.account_name_key", "'|'", "normalized.postcode"]) }}
            end
            when 5 then case
                when normalized.legal_name_key is not null and normalized.postcode is not null
                    then {{ dbt.concat(["normalized.legal_name_key", "'|'", "normalized.postcode"]) }}
            end
            when 6 then case
                when
                    normalized.account_name_key is not null
                    and normalized.postcode is not null
                    and normalized.street_number is not null
                    then {{ dbt.concat([
                        "normalized.account_name_key", "'|'", "normalized.postcode", "'|'",
                        "normalized.street_number"
                    ]) }}
            end
            when 7 then case
                when
                    normalized.legal_name_key is not null
                    and normalized.postcode is not null
                    and normalized.street_number is not null
                    then {{ dbt.concat([
                        "normalized.legal_name_key", "'|'", "normalized.postcode", "'|'",
                        "normalized.street_number"
                    ]) }}
            end
        end as key_value
    from normalized
    cross join key_types

),

keys as (

    select * from candidate_keys
    where key_value is not null

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
