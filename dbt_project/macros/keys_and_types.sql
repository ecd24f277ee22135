{#-
    surrogate_key(columns): md5 of the columns cast to text, null-safe, '-' separated
    (same recipe as dbt_utils.generate_surrogate_key, without the package dependency).
-#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(
            "coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_dbt_null_')") -%}
        {%- if not loop.last %}{% do parts.append("'-'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{#- type_double(): 8-byte floating point type name. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'account_rtm')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}


{#- month_start(date_expression): first day of the month, as a date. -#}
{% macro month_start(date_expression) -%}
    cast({{ dbt.date_trunc('month', date_expression) }} as date)
{%- endmacro %}


{#- size_band(employees_expression): band name from var size_bands (ascending lower bounds). -#}
{% macro size_band(employees_expression) -%}
    {%- set bands = var('size_bands') | sort(attribute='min_employees', reverse=true) -%}
    case
        {%- for band in bands %}
        when {{ employees_expression }} >= {{ band.min_employees }} then '{{ band.name }}'
        {%- endfor %}
        else 'unknown'
    end
{%- endmacro %}
