{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per manual override (account_id, field) from the company's overrides file
-- (var scoring_overrides): who decided what and why, and whether it applies to an active
-- account this night (an override naming an unknown or inactive account is kept here,
-- visible, instead of vanishing).
{%- set rows = var('scoring_overrides', []) %}
with

overrides as (

    {%- if rows %}
        {%- for row in rows %}
            select
                '{{ row.account_id }}' as account_id,
                '{{ row.field }}' as field,
                '{{ row.value }}' as override_value,
                '{{ row.reason | replace("'", "''") }}' as reason,
                '{{ row.author | replace("'", "''") }}' as author,
                cast('{{ row.date }}' as date) as decided_on
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as account_id,
            cast(null as {{ dbt.type_string() }}) as field,
            cast(null as {{ dbt.type_string() }}) as override_value,
            cast(null as {{ dbt.type_string() }}) as reason,
            cast(null as {{ dbt.type_string() }}) as author,
            cast(null as date) as decided_on
        where 1 = 0
    {%- endif %}

),

segments as (

    select account_id from {{ ref('account_segments') }}

),

final as (

    select
        cast(overrides.account_id as {{ dbt.type_string() }}) as account_id,
        cast(overrides.field as {{ dbt.type_string() }}) as field,
        cast(overrides.override_value as {{ dbt.type_string() }}) as override_value,
        cast(overrides.reason as {{ dbt.type_string() }}) as reason,
        cast(overrides.author as {{ dbt.type_string() }}) as author,
        cast(overrides.decided_on as date) as decided_on,
        cast(segments.account_id is not null as {{ dbt.type_boolean() }}) as is_applied
    from overrides
    left join segments on overrides.account_id = segments.account_id

)

select * from final
