{#-
  int_accounts__online_links night by night (macros/incremental_links.sql has the common
  part). A listing's source record is its latest version in raw.online_presence, which
  only grows by pulled files: the listings with a row in a file (file hash and load time)
  loaded since the last build are refreshed; a file that left the raw table (restated)
  rebuilds every listing (its listings' latest version may be an older one now).
-#}

{% macro online_links_key_types() -%}
    {{- return(['phone', 'website', 'name_postcode_number', 'name_postcode']) -}}
{%- endmacro %}


{#- The loaded files of raw.online_presence, one row each (file_key). -#}
{% macro online_links_files() -%}
    select
        {{ dbt.concat([
            "_file_hash", "'@'", "cast(_loaded_at as " ~ dbt.type_string() ~ ")"
        ]) }} as file_key
    from (
        select distinct _file_hash, _loaded_at from {{ source('raw', 'online_presence') }}
    ) as files
{%- endmacro %}


{#- Tonight's plan: {rebuilds_all, compare_keys, listing_ids (constants, or none when the
    new files' listings are read by a subquery, new_files)}. with_ids: look the refreshed
    listings up (the model's SQL needs them, the hooks do not). -#}
{% macro online_links_plan(version, with_ids=false, max_literal_ids=100000) -%}
    {%- set plan = {'rebuilds_all': true, 'compare_keys': false, 'listing_ids': [], 'new_files': []} %}
    {%- set state = link_stored_state() %}
    {%- if state is none or state['version'] != version %}{{ return(plan) }}{% endif %}
    {%- set files = run_query(online_links_files()).columns[0].values() | list %}
    {%- if list_minus(state['files'], files) %}{{ return(plan) }}{% endif %}
    {%- do plan.update({
        'rebuilds_all': false,
        'compare_keys': link_match_keys_may_have_changed(state),
        'new_files': list_minus(files, state['files']),
    }) %}
    {%- if with_ids and plan['new_files'] %}
        {%- set query -%}
            select distinct source_record_id
            from {{ source('raw', 'online_presence') }}
            where {{ online_links_in_new_files(plan['new_files']) }}
        {%- endset %}
        {%- set ids = run_query(query).columns[0].values() | list %}
        {%- do plan.update({'listing_ids': ids if ids | length <= max_literal_ids else none}) %}
    {%- endif %}
    {{- return(plan) -}}
{%- endmacro %}


{% macro online_links_in_new_files(new_files) -%}
    {%- set hashes = [] %}
    {%- for file_key in new_files %}{% do hashes.append(file_key.split('@')[0]) %}{% endfor %}
    _file_hash in ({{ sql_string_list(hashes | unique | list) }})
    and {{ dbt.concat([
        "_file_hash", "'@'", "cast(_loaded_at as " ~ dbt.type_string() ~ ")"
    ]) }} in ({{ sql_string_list(new_files) }})
{%- endmacro %}


{#- The condition on listing_id that selects the refreshed listings (none: false). -#}
{% macro online_links_refreshed(plan, column='listing_id') -%}
    {%- if plan['rebuilds_all'] -%}
    true
    {%- elif not plan['new_files'] -%}
    false
    {%- elif plan['listing_ids'] is none -%}
    {{ column }} in (
        select source_record_id from {{ source('raw', 'online_presence') }}
        where {{ online_links_in_new_files(plan['new_files']) }}
    )
    {%- elif plan['listing_ids'] -%}
    {{ column }} in ({{ sql_string_list(plan['listing_ids']) }})
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}


{#- The matching keys of a listing, normalized as int_accounts__match_keys does. -#}
{% macro online_links_key_columns() -%}
        {{ street_number('address') }} as street_number,
        {{ normalize_phone('phone') }} as phone_key,
        case
            when {{ normalize_website('website') }} is not null and department_code is not null
                then {{ dbt.concat([normalize_website('website'), "'|'", "department_code"]) }}
        end as website_key,
        {{ name_postcode_keys('listing_name', 'postcode', 'address') }}
{%- endmacro %}


{% macro online_links_version() -%}
    {%- set key_types = online_links_key_types() %}
    {{- return(link_model_version([
        online_links_key_columns(), crm_link_joins(key_types), crm_link_columns(key_types),
        crosswalk_match_method(), crosswalk_columns('listing_id'), link_decision_columns(),
    ], [ref('stg_online__listings')])) -}}
{%- endmacro %}


{% macro online_links_pre_hook() -%}
    {%- if is_incremental() and execute %}
    {{ link_delete_all(online_links_plan(online_links_version())['rebuilds_all']) }}
    {%- endif %}
{%- endmacro %}


{% macro online_links_post_hook() -%}
    {{ link_record_state(online_links_version(), online_links_key_types(), online_links_files()) }}
{%- endmacro %}


{#- The stored column of each key type. -#}
{% macro online_links_stored_keys() -%}
    {{- return({
        'phone': 'phone_key', 'website': 'website_key',
        'name_postcode_number': 'name_postcode_number_key', 'name_postcode': 'name_postcode_key',
    }) -}}
{%- endmacro %}
