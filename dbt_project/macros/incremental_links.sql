{#-
  Incremental maintenance of the account-link models (int_accounts__distributor_links,
  int_accounts__online_links, int_accounts__external_links; see each model's header). A
  stored row is a function of:
    - its source record (a listing's latest version, a distributor code's roll-up of its
      spellings, a register record) and the SQL that normalizes it into matching keys;
    - its crosswalk row (source linking.account_crosswalk, written by the linking step);
    - the rows of int_accounts__match_keys for the keys it carries (account, house number,
      ambiguity);
    - the model's SQL and the vars and macros it renders (link_confidence among them).
  A night recomputes, with the full build's SQL, only:
    - refreshed records, whose source record changed (model-specific, see the model): they
      are read from the source and normalized again;
    - redecided records, whose crosswalk row or one of whose keys changed: they are taken
      from the stored row (same source, same keys: the normalization is not done again) and
      joined to the keys and the crosswalk again.
  and writes them over the stored rows (incremental_strategy delete+insert on the record's
  id). Every record is rebuilt (the pre-hook empties the table) when that cannot be exact:
  no state, another version of the SQL (link_model_version), a source change the model
  cannot follow record by record, --full-refresh.

  Crosswalk changes need no state: the stored row holds what the crosswalk gave (account,
  method, confidence, rule, evidence), so a record is redecided when the crosswalk has no
  row for it or a row that gives other values (a fallback decision that the crosswalk
  happens to repeat exactly would not change the row).

  Match-key changes: the keys of each record are stored in the model's own columns
  (<key_type>_key, street_number), and a copy of the match keys the table was decided with
  in <model>__match_keys, with int_accounts__match_keys's input fingerprint
  (table_on_input_change) in <model>__link_state. When tonight's fingerprint is the same,
  no key changed (the table was not even rebuilt); otherwise the keys whose row differs
  between the copy and tonight's table (or exists in one only) select the records that
  carry them.

  The decisions are taken when the model is compiled (dbt does it just before running it)
  and again in its hooks, from the same tables: nothing writes them in between.
-#}

{% macro link_state_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__link_state"})) }}
{%- endmacro %}


{% macro link_match_keys_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__match_keys"})) }}
{%- endmacro %}


{#- The version of what a stored row was computed with: the model's SQL, the macros it
    renders (parts: their rendered SQL, which carries the vars they read) and the
    definitions of the views it reads its source from as the database holds them. -#}
{% macro link_model_version(parts, source_views=[]) -%}
    {%- set texts = [model.raw_code] + parts %}
    {%- if execute %}
        {%- for view in source_views %}
            {%- do texts.append(view_definition(view)) %}
        {%- endfor %}
    {%- endif %}
    {{- return(local_md5(texts | join('\n'))) -}}
{%- endmacro %}


{#- What the stored rows were computed with ({version, match_keys, files}), or none when
    there is nothing to build on (not an incremental build, no state). -#}
{% macro link_stored_state() -%}
    {%- if not (is_incremental() and execute) %}{{ return(none) }}{% endif %}
    {%- set relation = link_state_relation() %}
    {%- if not catalog_has_relation(relation) %}{{ return(none) }}{% endif %}
    {%- set state = {'version': none, 'match_keys': none, 'files': []} %}
    {%- for row in run_query('select kind, state_key from ' ~ relation).rows %}
        {%- if row[0] == 'file' %}
            {%- do state['files'].append(row[1]) %}
        {%- else %}
            {%- do state.update({row[0]: row[1]}) %}
        {%- endif %}
    {%- endfor %}
    {{- return(state) -}}
{%- endmacro %}


{#- int_accounts__match_keys's input fingerprint (none when it has none: another
    materialization, a unit test). -#}
{% macro link_match_keys_fingerprint() -%}
    {%- set keys = ref('int_accounts__match_keys') %}
    {%- if keys.identifier is none %}{{ return(none) }}{% endif %}
    {{- return(recorded_input_fingerprint(
        keys.incorporate(path={"identifier": keys.identifier ~ "__inputs"}))) -}}
{%- endmacro %}


{#- Whether the match keys may differ from the copy the stored rows were decided with. -#}
{% macro link_match_keys_may_have_changed(state) -%}
    {%- set fingerprint = link_match_keys_fingerprint() %}
    {{- return(
        fingerprint is none
        or state['match_keys'] != fingerprint
        or not catalog_has_relation(link_match_keys_relation())
    ) -}}
{%- endmacro %}


{#- The match keys' columns that a link reads, of the given key types. -#}
{% macro link_match_key_rows(key_types) -%}
    select key_type, key_value, account_id, street_number, is_ambiguous
    from {{ ref('int_accounts__match_keys') }}
    where key_type in ({{ sql_string_list(key_types) }})
{%- endmacro %}


{#- The ids (id_columns) of the stored rows to decide again: those whose crosswalk row is
    missing or gives other values, and, when compare_keys, those carrying a key whose match
    key row changed (key_columns: {key_type: the stored column holding that key}). crosswalk_cte: the model's crosswalk CTE (its decision columns in the
    link model's words, crosswalk_match_method applied) and crosswalk_on: its join
    condition with the stored row (alias stored). -#}
{% macro link_records_to_redecide(id_columns, crosswalk_cte, crosswalk_on, presence_column,
        key_columns, compare_keys) -%}
    select
        {%- for column in id_columns %}
        stored.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ this }} as stored
    left join {{ crosswalk_cte }} as crosswalk
        on {{ crosswalk_on }}
    where
        crosswalk.{{ presence_column }} is null
        or stored.account_id is distinct from crosswalk.account_id
        or stored.match_method is distinct from crosswalk.match_method
        or stored.match_confidence is distinct from crosswalk.match_probability
        or stored.match_rule is distinct from crosswalk.match_rule
        or stored.match_evidence is distinct from crosswalk.evidence
    {%- if compare_keys %}
    union
    select
        {%- for column in id_columns %}
        stored.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ this }} as stored
    where
        {%- for key_type, column in key_columns.items() %}
        stored.{{ column }} in (
            select key_value from changed_match_keys where key_type = '{{ key_type }}'
        )
        {{- " or" if not loop.last }}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}


{#- CTE body: the match keys (of key_types) that differ between the copy the stored rows
    were decided with and tonight's table, or exist in one of them only. -#}
{% macro link_changed_match_keys(key_types) -%}
    select coalesce(current_keys.key_type, previous_keys.key_type) as key_type,
        coalesce(current_keys.key_value, previous_keys.key_value) as key_value
    from ({{ link_match_key_rows(key_types) }}) as current_keys
    full outer join {{ link_match_keys_relation() }} as previous_keys
        on
            current_keys.key_type = previous_keys.key_type
            and current_keys.key_value = previous_keys.key_value
    where
        current_keys.key_value is null
        or previous_keys.key_value is null
        or current_keys.account_id is distinct from previous_keys.account_id
        or current_keys.street_number is distinct from previous_keys.street_number
        or current_keys.is_ambiguous is distinct from previous_keys.is_ambiguous
{%- endmacro %}


{#- Pre-hook statement: empty the table when tonight rebuilds every record. -#}
{% macro link_delete_all(rebuilds_all) -%}
    {%- if is_incremental() and execute and rebuilds_all %}
    delete from {{ this }}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: what the table now reflects - the version, the match keys' fingerprint and
    their copy (written again only when they may have changed), and the source files
    (files_sql: one column, file_key). -#}
{% macro link_record_state(version, key_types, files_sql=none) -%}
    {%- if execute %}
    {%- set fingerprint = link_match_keys_fingerprint() %}
    {%- set state = link_stored_state() %}
    {%- if state is none or should_full_refresh() or link_match_keys_may_have_changed(state) %}
    create or replace table {{ link_match_keys_relation() }} as
    {{ link_match_key_rows(key_types) }};
    {%- endif %}
    create or replace table {{ link_state_relation() }} as
    select
        'version' as kind,
        cast('{{ version }}' as {{ dbt.type_string() }}) as state_key
    union all
    select
        'match_keys' as kind,
        cast({{ "'" ~ fingerprint ~ "'" if fingerprint is not none else 'null' }}
            as {{ dbt.type_string() }}) as state_key
    {%- if files_sql %}
    union all
    select
        'file' as kind,
        file_key as state_key
    from ({{ files_sql }}) as files
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- Jinja lists a and b: the items of a that b lacks. -#}
{% macro list_minus(a, b) -%}
    {{- return(a | reject('in', b) | list) -}}
{%- endmacro %}


{#- The CTEs of the records to decide again (changed_match_keys when the keys may have
    changed, redecided), each followed by a comma; nothing when every record is rebuilt.
    Rendered by a macro so that the model's full-build SQL has no template block between
    its CTEs. -#}
{% macro link_redecide_ctes(plan, key_types, id_columns, crosswalk_on, presence_column,
        stored_keys) -%}
    {%- if not plan['rebuilds_all'] %}
    {%- if plan['compare_keys'] %}
changed_match_keys as (

    {{ link_changed_match_keys(key_types) }}

),
    {%- endif %}

redecided as (

    {{ link_records_to_redecide(
        id_columns, 'crosswalk', crosswalk_on, presence_column, stored_keys,
        plan['compare_keys']) }}

),
    {%- endif %}
{%- endmacro %}


{#- The stored rows of the records to decide again, as a union all branch of the model's
    keyed records (columns: the record's columns and keys), minus the refreshed ones
    (not_refreshed: a condition on the stored row, alias stored); nothing when every record
    is rebuilt. -#}
{% macro link_stored_records(plan, columns, id_columns, not_refreshed='true') -%}
    {%- if not plan['rebuilds_all'] %}
    union all
    select
        {%- for column in columns %}
        stored.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ this }} as stored
    where
        exists (
            select 1
            from redecided
            where
                {%- for column in id_columns %}
                redecided.{{ column }} = stored.{{ column }}{{ " and" if not loop.last }}
                {%- endfor %}
        )
        and {{ not_refreshed }}
    {%- endif %}
{%- endmacro %}
