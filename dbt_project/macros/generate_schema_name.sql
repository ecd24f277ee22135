{#-
    Use the configured schema as is (staging / intermediate / marts) instead of dbt's default
    <target_schema>_<custom_schema>, so that the published layout is the same in every
    environment and Dagster / BI tools can address marts.account_scorecard directly.
    Models without a custom schema land in the target schema (main).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
