{#-
  int_accounts__external_links night by night (macros/incremental_links.sql has the common
  part). The register is a snapshot: a new one replaces every row of
  raw.external_firmographics (and every record's loaded_at), so any change in its loaded
  files (file hash and load time) rebuilds every record; on the other nights only the
  records whose crosswalk row or matching keys changed are decided again.
-#}

{% macro external_links_key_types() -%}
    {{- return(['siret', 'name_postcode_number', 'name_postcode']) -}}
{%- endmacro %}


{#- The stored column of each key type. -#}
{% macro external_links_stored_keys() -%}
    {{- return({
        'siret': 'siret', 'name_postcode_number': 'name_postcode_number_key',
        'name_postcode': 'name_postcode_key',
    }) -}}
{%- endmacro %}


{#- The loaded files of raw.external_firmographics, one row each (file_key). -#}
{% macro external_links_files() -%}
    select
        {{ dbt.concat([
            "_file_hash", "'@'", "cast(_loaded_at as " ~ dbt.type_string() ~ ")"
        ]) }} as file_key
    from (
        select distinct _file_hash, _loaded_at from {{ source('raw', 'external_firmographics') }}
    ) as files
{%- endmacro %}


{#- Tonight's plan: {rebuilds_all, compare_keys}. -#}
{% macro external_links_plan(version) -%}
    {%- set plan = {'rebuilds_all': true, 'compare_keys': false} %}
    {%- set state = link_stored_state() %}
    {%- if state is none or state['version'] != version %}{{ return(plan) }}{% endif %}
    {%- set files = run_query(external_links_files()).columns[0].values() | list %}
    {%- if (files | sort | list) != (state['files'] | sort | list) %}{{ return(plan) }}{% endif %}
    {%- do plan.update({
        'rebuilds_all': false,
        'compare_keys': link_match_keys_may_have_changed(state),
    }) %}
    {{- return(plan) -}}
{%- endmacro %}


{#- The matching keys of a record, normalized as int_accounts__match_keys does. -#}
{% macro external_links_key_columns() -%}
        {{ street_number('address') }} as street_number,
        {{ name_postcode_keys('company_name', 'postcode', 'address') }}
{%- endmacro %}


{% macro external_links_version() -%}
    {%- set key_types = external_links_key_types() %}
    {{- return(link_model_version([
        external_links_key_columns(), crm_link_joins(key_types), crm_link_columns(key_types),
        crosswalk_match_method(), crosswalk_columns('external_id'), link_decision_columns(),
    ], [ref('stg_external__firmographics')])) -}}
{%- endmacro %}


{% macro external_links_pre_hook() -%}
    {%- if is_incremental() and execute %}
    {{ link_delete_all(external_links_plan(external_links_version())['rebuilds_all']) }}
    {%- endif %}
{%- endmacro %}


{% macro external_links_post_hook() -%}
    {{ link_record_state(
        external_links_version(), external_links_key_types(), external_links_files()) }}
{%- endmacro %}
