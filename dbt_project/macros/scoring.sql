{#-
    Scoring helpers (issue 4). The scoring config arrives as the dbt var `scoring` (validated
    by the orchestrator, see examples/sample_company/scoring.yaml); overrides as the var
    `scoring_overrides`. These macros turn the config into portable SQL.
-#}

{#- scoring_band(expression, bands, key): name of the first band whose `key` lower bound the
    expression reaches (bands are descending, the last bound is 0). -#}
{% macro scoring_band(expression, bands, key) -%}
    case
        {%- for band in bands %}
        when {{ expression }} >= {{ band[key] }} then '{{ band.name }}'
        {%- endfor %}
    end
{%- endmacro %}


{#- scoring_overrides_for(field): the overrides of one field, from var scoring_overrides. -#}
{% macro scoring_overrides_for(field) -%}
    {%- set rows = [] -%}
    {%- for row in var('scoring_overrides', []) if row.field == field -%}
        {%- do rows.append(row) -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}


{#- scoring_override(field, expression): the overriding value of `field` for the account
    (column account_id) when a manual override exists, else the computed expression. -#}
{% macro scoring_override(field, expression) -%}
    {%- set rows = scoring_overrides_for(field) -%}
    {%- if rows -%}
    case account_id
        {%- for row in rows %}
        when '{{ row.account_id }}' then '{{ row.value }}'
        {%- endfor %}
        else {{ expression }}
    end
    {%- else -%}
    {{ expression }}
    {%- endif -%}
{%- endmacro %}


{#- scoring_override_audit(computed, fields): two columns, override_note and overridden_fields,
    for the accounts with a manual override of one of `fields` (list). computed: dict field ->
    SQL expression of the computed value. Note: "plan support -> retention: <reason>
    (<author>, <date>)", joined with '; '. Null for accounts without override. -#}
{% macro scoring_override_audit(computed, fields) -%}
    {%- set by_account = {} -%}
    {%- for row in var('scoring_overrides', []) if row.field in fields -%}
        {%- do by_account.setdefault(row.account_id, []).append(row) -%}
    {%- endfor -%}
    {%- if by_account -%}
    case account_id
        {%- for account_id, rows in by_account.items() %}
        {%- set parts = [] %}
        {%- for row in rows | sort(attribute='field') %}
            {%- if not loop.first %}{% do parts.append("'; '") %}{% endif %}
            {%- do parts.append("'" ~ row.field ~ " '") %}
            {%- do parts.append("coalesce(" ~ computed[row.field] ~ ", 'none')") %}
            {%- do parts.append("' -> " ~ row.value ~ ": " ~ (row.reason | replace("'", "''"))
                ~ " (" ~ (row.author | replace("'", "''")) ~ ", " ~ row.date ~ ")'") %}
        {%- endfor %}
        when '{{ account_id }}' then {{ dbt.concat(parts) }}
        {%- endfor %}
    end as override_note,
    case account_id
        {%- for account_id, rows in by_account.items() %}
        when '{{ account_id }}' then '{{ rows | map(attribute="field") | sort | join(", ") }}'
        {%- endfor %}
    end as overridden_fields
    {%- else -%}
    cast(null as {{ dbt.type_string() }}) as override_note,
    cast(null as {{ dbt.type_string() }}) as overridden_fields
    {%- endif -%}
{%- endmacro %}


{#- scoring_pct_text(ratio): 0.123 -> '12%' (null stays null). -#}
{% macro scoring_pct_text(ratio) -%}
    {{ dbt.concat([
        "cast(cast(round(100 * " ~ ratio ~ ", 0) as " ~ dbt.type_bigint() ~ ") as "
            ~ dbt.type_string() ~ ")",
        "'%'"]) }}
{%- endmacro %}


{#- scoring_eur_text(amount): 8412.5 -> 'EUR 8412' (null stays null). -#}
{% macro scoring_eur_text(amount) -%}
    {{ dbt.concat([
        "'EUR '",
        "cast(cast(round(" ~ amount ~ ", 0) as " ~ dbt.type_bigint() ~ ") as "
            ~ dbt.type_string() ~ ")"]) }}
{%- endmacro %}


{#- scoring_top_text(normalized): percent rank 0.97 -> 'top 3%' (at least 'top 1%'). -#}
{% macro scoring_top_text(normalized) -%}
    {{ dbt.concat([
        "'top '",
        "cast(greatest(1, cast(round(100 * (1 - " ~ normalized ~ "), 0) as " ~ dbt.type_bigint()
            ~ ")) as " ~ dbt.type_string() ~ ")",
        "'%'"]) }}
{%- endmacro %}
