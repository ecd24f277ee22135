{#-
  Incremental maintenance of int_sell_out_lines__linked (the line-level sell-out fact), see
  the model's header. What a stored line depends on is summarized as "applied state" rows
  (kind, key, fingerprint) kept in <model>__applied after each build:
    file    : a loaded distributor sell-out file (its content hash), from the ingestion ledger
    link    : a distributor customer code and its crosswalk decision
    product : a product code (EAN or SKU) and the product row it resolves to
    config  : the vars and the SQL of the model and its parents (one fingerprint)
  A night compares the current state with the applied one: lines of new files are inserted,
  lines of files no longer loaded (restated, superseded) are deleted, lines of codes whose
  link or product changed are deleted and inserted again, and a changed configuration or
  model SQL rebuilds every line.
-#}

{% macro sell_out_lines_applied_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__applied"})) }}
{%- endmacro %}


{#- What the last build rewrote (kind, key1, key2), kept until the next build: the
    unique test of the line key reads it (tests/generic/unique_in_rewritten_lines.sql). -#}
{% macro sell_out_lines_changes_relation(model=this) -%}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__changes"})) }}
{%- endmacro %}


{#- Incremental with a recorded state to compare with (else every line is rebuilt). -#}
{% macro sell_out_lines_has_state() -%}
    {{ return(is_incremental() and adapter.get_relation(
        this.database, this.schema, this.identifier ~ '__applied') is not none) }}
{%- endmacro %}


{#- The vars the line conversion reads and the SQL of the models the lines go through:
    changing any of them changes what every stored line would be. -#}
{% macro sell_out_lines_config_fingerprint() -%}
    {%- set parts = [
        tojson(var('distributor_product_code_types', {})),
        tojson(var('distributor_currencies', {})),
        tojson(var('company_currency', 'EUR')),
        tojson(var('fx_rates_to_company_currency', {})),
        tojson(var('own_brands', [])),
    ] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
            {%- if node.resource_type == 'model' and node.name in (
                'stg_distributors__sell_out_lines', 'stg_erp__products',
                'int_sell_out_lines__converted', 'int_sell_out_lines__linked') -%}
                {%- do parts.append(node.raw_code) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(local_md5(parts | join('\n'))) -}}
{%- endmacro %}


{#- The current state, one row per (kind, key1, key2) with its fingerprint. -#}
{% macro sell_out_lines_current_state() -%}
    {#- a product row as the conversion reads it, under its EAN and under its SKU -#}
    {%- set product_row = surrogate_key(
        ['sku', 'ean', 'brand', 'category', 'bottles_per_case', 'bottle_size_l']
    ) %}
    select
        'file' as kind,
        file_hash as key1,
        '' as key2,
        '' as fingerprint
    from {{ ref('stg_ingestion__file_deliveries') }}
    where source_name = 'distributor_sell_out' and is_loaded
    union all
    select
        'link' as kind,
        distributor_id as key1,
        distributor_account_code as key2,
        {{ surrogate_key([
            'distributor_customer_id', 'account_id', 'match_method', 'match_confidence'
        ]) }} as fingerprint
    from {{ ref('int_accounts__distributor_links') }}
    union all
    select
        'product' as kind,
        code as key1,
        '' as key2,
        {{ dbt.listagg('fingerprint', "','", "order by fingerprint") }} as fingerprint
    from (
        select
            ean as code,
            {{ product_row }} as fingerprint
        from {{ ref('stg_erp__products') }}
        where ean is not null
        union all
        select
            sku as code,
            {{ product_row }} as fingerprint
        from {{ ref('stg_erp__products') }}
        where sku is not null
    ) as product_codes
    group by code
    union all
    select
        'config' as kind,
        '{{ sell_out_lines_config_fingerprint() }}' as key1,
        '' as key2,
        '' as fingerprint
{%- endmacro %}


{#- Rows of the current or the applied state that the other lacks: what changed. -#}
{% macro sell_out_lines_changes() -%}
    {%- set applied = sell_out_lines_applied_relation() %}
    select kind, key1, key2
    from (
        (
            select kind, key1, key2, fingerprint from ({{ sell_out_lines_current_state() }}) as cur
            except
            select kind, key1, key2, fingerprint from {{ applied }}
        )
        union all
        (
            select kind, key1, key2, fingerprint from {{ applied }}
            except
            select kind, key1, key2, fingerprint from ({{ sell_out_lines_current_state() }}) as cur
        )
    ) as changed
    group by kind, key1, key2
{%- endmacro %}


{#- The lines a night must (re)build: every line when the configuration changed, else those
    of changed files, products and customer links, as a subquery against the changes
    table. sell_out_lines_selected writes the same conditions with constants and falls back
    to this form past its limit of customer codes, so what goes and what comes back are
    always the same lines; line_prefix qualifies the line columns ('' for the model's own
    select). -#}
{% macro sell_out_lines_changed(changes, line_prefix='') -%}
    (
        exists (select 1 from {{ changes }} where kind = 'config')
        or {{ line_prefix }}file_hash in (select key1 from {{ changes }} where kind = 'file')
        or {{ line_prefix }}product_code in (select key1 from {{ changes }} where kind = 'product')
        or exists (
            select 1
            from {{ changes }} as c
            where
                c.kind = 'link'
                and c.key1 = {{ line_prefix }}distributor_id
                and c.key2 = {{ line_prefix }}distributor_account_code
        )
    )
{%- endmacro %}


{#- First pre-hook: tonight's changes, kept in <model>__changes (the hooks after it, the
    line-key test and the next night read them). The model's compilation, just before,
    already computed them into <model>__changes_pending, tagged with this invocation: they
    are taken from there (a pass over the state tables saved). Pending changes of another
    invocation (a `dbt compile` or `dbt docs generate` since) are not: they are computed
    again. -#}
{% macro sell_out_lines_save_changes() -%}
    {%- if sell_out_lines_has_state() %}
    {%- set pending = sell_out_lines_pending_relation() %}
    {%- set compiled_now = execute and catalog_has_relation(pending) and run_query(
        "select count(*) from " ~ pending ~ " where invocation_id = '" ~ invocation_id ~ "'"
        ).rows[0][0] > 0 %}
    create or replace table {{ sell_out_lines_changes_relation() }} as
    {%- if compiled_now %}
    select kind, key1, key2 from {{ pending }}
    where kind is not null
    {%- else %}
    {{ sell_out_lines_changes() }}
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- Tonight's changes as the model's compilation computed them (sell_out_lines_to_insert),
    with the invocation that computed them (a row with null kind when there are none). -#}
{% macro sell_out_lines_pending_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__changes_pending"})) }}
{%- endmacro %}


{#- Second pre-hook: delete the stored lines that are no longer right (see the header),
    after logging their (account, month) pairs: a relinked line's former account is known
    only before the delete. One delete per kind of change (the new files, each
    distributor's relinked codes, the products): their disjunction spans several columns,
    which DuckDB does not push into the scan, so one delete read those columns of every
    line; each delete's own conditions are pushed (a file's lines are found through its row
    groups). A line two changes select goes with the first delete. -#}
{% macro sell_out_lines_prune() -%}
    {%- if sell_out_lines_has_state() and execute %}
    {%- set conditions = sell_out_lines_saved_changes(as_list=true) %}
    {%- if conditions is none %}
    delete from {{ this }}
    {%- else %}
    {{ sell_out_lines_log_touched_pairs(conditions) }}
    {%- for condition in conditions %};
    delete from {{ this }}
    where {{ condition }}
    {%- endfor %}
    {%- endif %}
    {%- elif is_incremental() %}
    delete from {{ this }}
    {%- endif %}
{%- endmacro %}


{#- Which lines tonight's changes select, as a predicate over the line columns (prefixed
    with line_prefix), or none when every line is (the configuration changed). The
    changes are written out as constants: a filter on constants reaches the scan it filters
    (the raw table's, under the conversion view; the fact's own, where a file's lines are
    contiguous and the other files' row groups are skipped), where a subquery against the
    changes table is joined only after every line has been read (and, under the view,
    converted: its key hashed, its product resolved): 3.4 s against 0.9 s for one file and
    2,000 customer codes at 200k accounts. Past max_literal_codes customer codes (a night
    that relinks much of the base) the subquery form over the saved changes is used: the
    SQL stays small, and such a night reads every line anyway. as_list: the predicate's
    disjuncts, one per kind of change and distributor, as a list (empty when nothing
    changed) instead of their disjunction. -#}
{% macro sell_out_lines_selected(rows, changes, line_prefix='', max_literal_codes=50000,
        as_list=false) -%}
    {%- set kinds = {'config': [], 'file': [], 'product': [], 'link': {}} %}
    {%- for row in rows %}
        {%- if row['kind'] == 'link' %}
            {%- do kinds['link'].setdefault(row['key1'], []).append(row['key2']) %}
        {%- else %}
            {%- do kinds[row['kind']].append(row['key1']) %}
        {%- endif %}
    {%- endfor %}
    {%- if kinds['config'] %}{{ return(none) }}{% endif %}
    {%- if kinds['link'].values() | map('length') | sum > max_literal_codes %}
        {%- set predicate = sell_out_lines_changed(changes, line_prefix) %}
        {{- return([predicate] if as_list else predicate) }}
    {%- endif %}
    {%- set conditions = [] %}
    {%- if kinds['file'] %}
        {%- do conditions.append(
            line_prefix ~ 'file_hash in (' ~ sql_string_list(kinds['file']) ~ ')') %}
    {%- endif %}
    {%- if kinds['product'] %}
        {%- do conditions.append(
            line_prefix ~ 'product_code in (' ~ sql_string_list(kinds['product']) ~ ')') %}
    {%- endif %}
    {%- for distributor_id, codes in kinds['link'] | dictsort %}
        {%- do conditions.append(
            "(" ~ line_prefix ~ "distributor_id = " ~ sql_string_list([distributor_id])
            ~ " and " ~ line_prefix ~ "distributor_account_code in ("
            ~ sql_string_list(codes) ~ "))") %}
    {%- endfor %}
    {%- if as_list %}{{ return(conditions) }}{% endif %}
    {{- return('(' ~ (conditions | join('\n        or ') if conditions else '1 = 0') ~ ')') }}
{%- endmacro %}


{#- The predicate of the changes the last build saved (sell_out_lines_selected over
    <model>__changes), qualified with the model's name. -#}
{% macro sell_out_lines_saved_changes(model=this, as_list=false) -%}
    {%- set changes = sell_out_lines_changes_relation(model) %}
    {%- set rows = run_query("select kind, key1, key2 from " ~ changes).rows %}
    {{- return(sell_out_lines_selected(rows, changes, model ~ '.', as_list=as_list)) }}
{%- endmacro %}


{#- The rows of `relation` that any of `conditions` selects, each row once: one branch per
    condition, each leaving out the rows an earlier one took (their disjunction spans
    several columns, which DuckDB does not push into the scan, so it read those columns of
    every row; each branch's own conditions are pushed). An empty list selects no row. -#}
{% macro select_rows_once(relation, conditions, columns='*') -%}
    {%- set branches = conditions or ['1 = 0'] %}
    {%- for condition in branches %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select {{ columns }}
    from {{ relation }}
    where
        {{ condition }}
        {%- for earlier in branches[:loop.index0] %}
        and not coalesce({{ earlier }}, false)
        {%- endfor %}
    {%- endfor %}
{%- endmacro %}


{#- The lines to (re)insert tonight, from `lines` (the conversion view): those the changes
    select, the lines the pre-hook deletes (the same changes, computed when the model is
    compiled, which dbt does just before running it, once its parents are built, and kept
    as pending for the pre-hook to save); every line when the model has no state or the
    configuration changed. Read one kind of change at a time (select_rows_once): the new
    files' lines through their row groups of the raw table, each distributor's relinked
    codes through theirs, instead of the disjunction's read of three columns of every line
    (2.8 s at 1M accounts). -#}
{% macro sell_out_lines_to_insert(lines) -%}
    {%- set conditions = none %}
    {%- if sell_out_lines_has_state() and execute %}
    {%- set pending = sell_out_lines_pending_relation() %}
    {%- do run_query(
        "create or replace table " ~ pending ~ " as select '" ~ invocation_id
        ~ "' as invocation_id, kind, key1, key2 from (" ~ sell_out_lines_changes()
        ~ ") as changed union all select '" ~ invocation_id
        ~ "', null, null, null") %}
    {%- set conditions = sell_out_lines_selected(
        run_query("select kind, key1, key2 from " ~ pending ~ " where kind is not null").rows,
        sell_out_lines_changes_relation(), as_list=true) %}
    {%- endif %}
    {%- if conditions is none %}
    select * from {{ lines }}
    {%- else %}
    {{ select_rows_once(lines, conditions) }}
    {%- endif %}
{%- endmacro %}


{#- 'a', 'b', ... : values as SQL string literals (quotes doubled; a null matches no line,
    as it matches nothing in the subquery form). -#}
{% macro sql_string_list(values) -%}
    {%- set literals = [] %}
    {%- for value in values if value is not none %}
        {%- do literals.append("'" ~ (value | string | replace("'", "''")) ~ "'") %}
    {%- endfor %}
    {{- return(literals | join(', ') if literals else 'null') -}}
{%- endmacro %}


{#- The (account_id, sale_month) pairs whose lines a build of the fact deleted or inserted,
    appended by each build to <model>__touched with the build's invocation id, so that
    int_accounts__market_purchases (one row per pair) re-aggregates only those pairs. A
    build that rewrote every line logs one row with rewrote_all instead (every pair
    changed). The consumer deletes the builds it applied and only those: a night on which
    the fact was built and the consumer was not (or failed) leaves its pairs for the next
    one. -#}
{% macro sell_out_lines_touched_relation(model=this) -%}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__touched"})) }}
{%- endmacro %}


{% macro sell_out_lines_create_touched() -%}
    create table if not exists {{ sell_out_lines_touched_relation() }} as
    select
        cast(null as {{ dbt.type_string() }}) as fact_build_id,
        account_id,
        sale_month,
        cast(null as {{ dbt.type_boolean() }}) as rewrote_all
    from {{ this }}
    where 1 = 0
{%- endmacro %}


{#- The pairs of the lines of `relation` (the model's stored lines by default) that any of
    the predicates `conditions` selects (before the pre-hook's delete: the lines about to
    go; after the insert: the lines that came), every line of it when conditions is none.
    Read one predicate at a time (select_rows_once), for the reason given at
    sell_out_lines_prune. -#}
{% macro sell_out_lines_log_touched_pairs(conditions, relation=this) -%}
    {{ sell_out_lines_create_touched() }};
    insert into {{ sell_out_lines_touched_relation() }}
        (fact_build_id, account_id, sale_month, rewrote_all)
    select distinct
        '{{ invocation_id }}' as fact_build_id,
        account_id,
        sale_month,
        false as rewrote_all
    from (
        {%- if conditions is none %}
        select account_id, sale_month
        from {{ relation }}
        {%- else %}
        {{ select_rows_once(relation, conditions, 'account_id, sale_month') }}
        {%- endif %}
    ) as touched_lines
    where account_id is not null
{%- endmacro %}


{#- Post-hook, before sell_out_lines_record_state: log the pairs of the inserted lines, or
    that every line was rewritten (a build without state, or a changed configuration).
    The inserted lines are read from the adapter's staging table of the insert when it can
    be found (a few hundred thousand rows), else found again in the fact by the predicate
    (a pass over every line). -#}
{% macro sell_out_lines_log_touched() -%}
    {%- set lines = none %}
    {%- if sell_out_lines_has_state() and execute %}
        {%- set lines = sell_out_lines_saved_changes(as_list=true) %}
    {%- endif %}
    {%- set inserted = sell_out_lines_inserted_relation() if lines is not none else none %}
    {%- if inserted is not none %}
    {{ sell_out_lines_log_touched_pairs(none, inserted) }}
    {%- elif lines is not none %}
    {{ sell_out_lines_log_touched_pairs(lines) }}
    {%- else %}
    {{ sell_out_lines_create_touched() }};
    insert into {{ sell_out_lines_touched_relation() }}
        (fact_build_id, account_id, sale_month, rewrote_all)
    values ('{{ invocation_id }}', null, null, true)
    {%- endif %}
{%- endmacro %}


{#- The table this build's new lines were staged in before dbt appended them to the model
    (dbt-duckdb: a temporary table <model>__dbt_tmp<time>, dropped after the post-hooks
    inside the transaction), or none when it cannot be told apart. -#}
{% macro sell_out_lines_inserted_relation() -%}
    {{ return(adapter.dispatch('sell_out_lines_inserted_relation', 'account_rtm')()) }}
{%- endmacro %}

{% macro default__sell_out_lines_inserted_relation() -%}
    {{ return(none) }}
{%- endmacro %}

{% macro duckdb__sell_out_lines_inserted_relation() -%}
    {%- set staged = run_query(
        "select table_name from duckdb_tables() where temporary and table_name like '"
        ~ this.identifier ~ "\\_\\_dbt\\_tmp%' escape '\\'").rows %}
    {{ return(adapter.quote(staged[0][0]) if staged | length == 1 else none) }}
{%- endmacro %}


{#- Post-hook: what the table now reflects. A build without state rewrote every line: its
    changes are the one 'config' row that selects them all. -#}
{% macro sell_out_lines_record_state() -%}
    {%- if not sell_out_lines_has_state() %}
    create or replace table {{ sell_out_lines_changes_relation() }} as
    select 'config' as kind, '' as key1, '' as key2;
    {%- endif %}
    create or replace table {{ sell_out_lines_applied_relation() }} as
    {{ sell_out_lines_current_state() }}
{%- endmacro %}
