{#-
    Helpers of the A&P return and distributor scorecard models (issue 5). Portable SQL only;
    anything engine-specific goes through adapter.dispatch.
-#}

{#- safe_divide(numerator, denominator): null when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
        else cast({{ numerator }} as {{ account_rtm.type_double() }}) / ({{ denominator }})
    end
{%- endmacro %}


{#- var_samp(expression): aggregate sample variance (null below 2 values). -#}
{% macro var_samp(expression) -%}
    {{ return(adapter.dispatch('var_samp', 'account_rtm')(expression)) }}
{%- endmacro %}

{% macro default__var_samp(expression) -%}
    var_samp({{ expression }})
{%- endmacro %}

{% macro duckdb__var_samp(expression) -%}
    var_samp({{ expression }})
{%- endmacro %}


{#- add_months(date_expression, months): the date n months later (negative: earlier), as a date. -#}
{% macro add_months(date_expression, months) -%}
    cast({{ dbt.dateadd('month', months, date_expression) }} as date)
{%- endmacro %}


{#-
    rows_from_mapping(mapping, key_column, value_columns): a portable inline table, one row
    per key of a dict var ({key: {column: value, ...}} or {key: value} with one value column),
    as `select ... union all select ...`; value_columns = [(column, type, default)]. An
    empty mapping gives zero rows with the right columns.
-#}
{% macro rows_from_mapping(mapping, key_column, value_columns) -%}
    {%- set selects = [] -%}
    {%- for key, value in (mapping or {}).items() | sort -%}
        {%- set parts = ["cast('" ~ key ~ "' as " ~ dbt.type_string() ~ ") as " ~ key_column] -%}
        {%- for column, column_type, default in value_columns -%}
            {%- if value is mapping -%}
                {%- set raw = value.get(column, default) -%}
            {%- else -%}
                {%- set raw = value -%}
            {%- endif -%}
            {%- if raw is none -%}
                {%- set literal = "null" -%}
            {%- elif raw is string -%}
                {%- set literal = "'" ~ raw ~ "'" -%}
            {%- else -%}
                {%- set literal = raw -%}
            {%- endif -%}
            {%- do parts.append("cast(" ~ literal ~ " as " ~ column_type ~ ") as " ~ column) -%}
        {%- endfor -%}
        {%- do selects.append("select " ~ (parts | join(", "))) -%}
    {%- endfor -%}
    {%- if selects -%}
        {{ selects | join("\n    union all\n    ") }}
    {%- else -%}
        {%- set parts = ["cast(null as " ~ dbt.type_string() ~ ") as " ~ key_column] -%}
        {%- for column, column_type, default in value_columns -%}
            {%- do parts.append("cast(null as " ~ column_type ~ ") as " ~ column) -%}
        {%- endfor -%}
        select {{ parts | join(", ") }} where 1 = 0
    {%- endif -%}
{%- endmacro %}
