{#-
    Route-to-market coverage and profitability helpers (issue 5). The rtm config arrives as
    the dbt var `rtm` (validated by orchestration/rtm/config.py, documented in
    examples/sample_company/rtm.yaml); the call guideline per class comes from var
    scoring.classes. These macros turn the config into portable SQL (CASE expressions over
    literal values), so the models stay set-based and free of adapter-specific functions.
-#}

{#- rtm_resource_value(resource_type_column, attribute, default): the rtm.resources[type]
    `attribute` (hourly_cost_eur, travel_minutes_per_visit, counts_for_guideline) of the
    call's resource type; `default` for a type the config does not list. -#}
{% macro rtm_resource_value(resource_type_column, attribute, default) -%}
    {%- set resources = var('rtm').resources -%}
    case {{ resource_type_column }}
        {%- for name, resource in resources.items() | sort %}
        {%- set value = resource[attribute] %}
        when '{{ name }}' then {{ (value | string | lower) if value is sameas true or value is sameas false else value }}
        {%- endfor %}
        else {{ default }}
    end
{%- endmacro %}


{#- rtm_class_calls_per_year(class_column): the call guideline (calls a year) of a priority
    class, from var scoring.classes; null for an unknown class. -#}
{% macro rtm_class_calls_per_year(class_column) -%}
    case {{ class_column }}
        {%- for c in var('scoring').classes %}
        when '{{ c.name }}' then {{ c.calls_per_year }}
        {%- endfor %}
    end
{%- endmacro %}


{#- rtm_class_guideline(class_column): the call guideline of a class in words. -#}
{% macro rtm_class_guideline(class_column) -%}
    case {{ class_column }}
        {%- for c in var('scoring').classes %}
        when '{{ c.name }}' then '{{ c.guideline | replace("'", "''") }}'
        {%- endfor %}
    end
{%- endmacro %}


{#- rtm_is_remote_class(class_column): true when the class is one of
    rtm.coverage.remote_classes (its guideline says telesales or mail). -#}
{% macro rtm_is_remote_class(class_column) -%}
    {%- set classes = var('rtm').coverage.remote_classes or [] -%}
    {%- if classes -%}
    coalesce({{ class_column }} in ('{{ classes | join("', '") }}'), false)
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}


{#- rtm_in_list(column, values): `column in (...)` over a list of literal strings from the
    config; false for an empty list. -#}
{% macro rtm_in_list(column, values) -%}
    {%- if values -%}
    coalesce({{ column }} in ('{{ values | join("', '") }}'), false)
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}


{#- rtm_int_text(expression): a number rounded to a whole, as text ('31'). -#}
{% macro rtm_int_text(expression) -%}
    cast(cast(round({{ expression }}, 0) as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }})
{%- endmacro %}
