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
{#- Each key an account yields: its type and the normalized columns it joins with '|' (a
    key exists when all of them do). A name gives two: from the trading and the legal name. -#}
{%- set key_variants = [
    ('siret', ['siret']),
    ('phone', ['phone_key']),
    ('website', ['website_key']),
    ('name_postcode', ['account_name_key', 'postcode']),
    ('name_postcode', ['legal_name_key', 'postcode']),
    ('name_postcode_number', ['account_name_key', 'postcode', 'street_number']),
    ('name_postcode_number', ['legal_name_key', 'postcode', 'street_number']),
] %}
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

    -- one row per key variant: the accounts are normalized once and crossed with these,
    -- where a union of one select per key type normalized them once per branch
    select * from (
        values
        {%- for key_type, parts in key_variants %}
        ({{ loop.index }}, '{{ key_type }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as key_type_rows (key_variant, key_type)

),

candidate_keys as (

    select
        normalized.account_id,
        normalized.is_active,
        normalized.street_number,
        key_types.key_type,
        case key_types.key_variant
            {%- for key_type, parts in key_variants %}
            {%- set variant = loop.index %}
            {%- set present = [] %}
            {%- set concat_args = [] %}
            {%- for part in parts %}
                {%- do present.append('normalized.' ~ part ~ ' is not null') %}
                {%- do concat_args.append('normalized.' ~ part) %}
                {%- if not loop.last %}{% do concat_args.append("'|'") %}{% endif %}
            {%- endfor %}
            when {{ variant }} then
                {%- if parts | length == 1 %} normalized.{{ parts[0] }}
                {%- else %} case
                when {{ present | join(' and ') }}
                    then {{ dbt.concat(concat_args) }}
            end
                {%- endif %}
            {%- endfor %}
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
