{#-
  Materialization table_on_input_change: a table that a night rebuilds only when something
  it is built from changed, for the models whose inputs most nights leave alone (the CRM,
  the ERP's sell-in and product master arrive on their own schedule, not with each day's
  sell-out). What the table is built from, fingerprinted before each build:
    - its own compiled SQL (its code, the vars and macros it renders);
    - for each parent view: the view's definition as the database holds it tonight (its
      compiled SQL too), and, recursively, the view's own parents;
    - for each raw source: the ingestion ledger's rows for that source (raw.file_deliveries:
      file hash, status, load time), since the ingestion writes a raw table only when it
      loads or supersedes a file and records it there; a source the ledger does not know
      makes the table rebuild every night;
    - for each parent built with this materialization: the fingerprint it was built with;
    - for a small parent table declared with meta input_fingerprint: content (the reporting
      calendar, one row): its rows.
  A parent of any other kind (a table rebuilt nightly, an incremental model) is refused at
  run time: there is nothing cheap that says whether its data changed. The fingerprint is
  kept in <table>__inputs after each build; when tonight's equals it the build is skipped
  (the model's tests still run). --full-refresh always rebuilds.
-#}

{% materialization table_on_input_change, default %}
    {%- set fingerprint = local_md5(compiled_code ~ '\n' ~ (input_states(model) | join('\n'))) %}
    {%- set record = this.incorporate(path={"identifier": this.identifier ~ "__inputs"}) %}
    {%- set existing = load_cached_relation(this) %}
    {%- if existing is not none and existing.is_table and not should_full_refresh()
        and recorded_input_fingerprint(record) == fingerprint %}
        {{ log(this ~ ": inputs unchanged since its last build, kept", info=true) }}
        {% call statement('main') -%}
            select 1 as kept
        {%- endcall %}
        {{ return({'relations': [this]}) }}
    {%- endif %}
    {%- set result = adapter_table_materialization() %}
    {% call statement('record_input_fingerprint') -%}
        create or replace table {{ record }} as
        select '{{ fingerprint }}' as input_fingerprint
    {%- endcall %}
    {{ adapter.commit() }}
    {{ return(result) }}
{% endmaterialization %}


{#- The adapter's own table materialization, which does the build. -#}
{% macro adapter_table_materialization() -%}
    {{ return(adapter.dispatch('adapter_table_materialization', 'account_rtm')()) }}
{%- endmacro %}

{% macro default__adapter_table_materialization() -%}
    {{ return(materialization_table_default()) }}
{%- endmacro %}

{% macro duckdb__adapter_table_materialization() -%}
    {{ return(materialization_table_duckdb()) }}
{%- endmacro %}


{#- The fingerprint a table was last built with (none before its first build). Looked up in
    the catalog, not dbt's relation cache: a parent built earlier in this run recorded it
    behind the cache's back. -#}
{% macro recorded_input_fingerprint(record) -%}
    {%- if not catalog_has_relation(record) %}{{ return(none) }}{% endif %}
    {%- set rows = run_query('select input_fingerprint from ' ~ record).rows %}
    {{- return(rows[0][0] if rows else none) -}}
{%- endmacro %}


{#- Whether the table exists, asked of the catalog rather than dbt's relation cache, which
    does not know the tables that hooks and this materialization create during a run. -#}
{% macro catalog_has_relation(relation) -%}
    {%- set query -%}
        select count(*) from information_schema.tables
        where
            table_schema = '{{ relation.schema }}' and table_name = '{{ relation.identifier }}'
            {%- if relation.database %} and table_catalog = '{{ relation.database }}'{% endif %}
    {%- endset %}
    {{- return(run_query(query).rows[0][0] > 0) -}}
{%- endmacro %}


{#- One line per input of `node` (see the materialization's header). -#}
{% macro input_states(node) -%}
    {%- set states = [] %}
    {%- for parent_id in node.depends_on.nodes | sort %}
        {%- if parent_id in graph.sources %}
            {%- set source_node = graph.sources[parent_id] %}
            {%- do states.append(parent_id ~ ' ' ~ raw_source_state(source_node)) %}
        {%- else %}
            {%- set parent = graph.nodes[parent_id] %}
            {%- set relation = adapter.get_relation(parent.database, parent.schema, parent.alias) %}
            {%- if relation is none %}
                {%- do states.append(parent_id ~ ' missing: ' ~ invocation_id) %}
            {%- elif parent.config.materialized == 'view' %}
                {%- do states.append(parent_id ~ ' ' ~ view_definition(relation)) %}
                {%- do states.extend(input_states(parent)) %}
            {%- elif (parent.config.meta or {}).get('input_fingerprint') == 'content' %}
                {%- set rows = run_query('select * from ' ~ relation).rows %}
                {%- do states.append(parent_id ~ ' ' ~ (rows | map('list') | map('string') | sort | join(';'))) %}
            {%- elif parent.config.materialized == 'table_on_input_change' %}
                {%- set parent_record = relation.incorporate(
                    path={"identifier": relation.identifier ~ "__inputs"}) %}
                {%- do states.append(parent_id ~ ' ' ~ recorded_input_fingerprint(parent_record)) %}
            {%- else %}
                {{ exceptions.raise_compiler_error(
                    node.name ~ " (table_on_input_change) reads " ~ parent.name ~ ", a "
                    ~ parent.config.materialized ~ " rebuilt every night: nothing says cheaply"
                    ~ " whether its data changed; use materialized='table'") }}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
    {{- return(states) -}}
{%- endmacro %}


{#- What the ingestion ledger says of a raw source; a unique value (tonight's invocation)
    when the ledger has no row for it, so the table is rebuilt. -#}
{% macro raw_source_state(source_node) -%}
    {%- set ledger = graph.sources.values() | selectattr('source_name', 'equalto', source_node.source_name)
        | selectattr('name', 'equalto', 'file_deliveries') | first %}
    {%- set query -%}
        select {{ dbt.listagg(
            dbt.concat(["file_hash", "':'", "status", "':'", "cast(loaded_at as " ~ dbt.type_string() ~ ")"]),
            "','",
            "order by file_hash, loaded_at, status"
        ) }}
        from {{ ledger.relation_name }}
        where source = '{{ source_node.name }}'
    {%- endset %}
    {%- set state = run_query(query).rows[0][0] %}
    {{- return(state if state else 'unknown to the ledger: ' ~ invocation_id) -}}
{%- endmacro %}


{#- The definition of a view as the database holds it. -#}
{% macro view_definition(relation) -%}
    {{ return(adapter.dispatch('view_definition', 'account_rtm')(relation)) }}
{%- endmacro %}

{% macro default__view_definition(relation) -%}
    {%- set query -%}
        select view_definition from information_schema.views
        where table_schema = '{{ relation.schema }}' and table_name = '{{ relation.identifier }}'
    {%- endset %}
    {%- set rows = run_query(query).rows %}
    {{- return(rows[0][0] if rows else 'missing: ' ~ invocation_id) -}}
{%- endmacro %}

{% macro duckdb__view_definition(relation) -%}
    {%- set query -%}
        select sql from duckdb_views()
        where
            database_name = '{{ relation.database }}'
            and schema_name = '{{ relation.schema }}'
            and view_name = '{{ relation.identifier }}'
    {%- endset %}
    {%- set rows = run_query(query).rows %}
    {{- return(rows[0][0] if rows else 'missing: ' ~ invocation_id) -}}
{%- endmacro %}
