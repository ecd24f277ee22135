{#-
    Deterministic linking of external records (distributor customers, external firmographics,
    online listings) to CRM accounts, through int_accounts__match_keys (one row per normalized
    key with the CRM account it identifies, or none when ambiguous).

    The calling model prepares a CTE (source_alias) with one column <key_type>_key per key
    type, normalized exactly as in int_accounts__match_keys (plus street_number when
    name_postcode is used: a name match is refused when both house numbers are known and
    differ), then:
        from keyed
        {{ crm_link_joins(['siret', 'phone', 'name_postcode']) }}
    and in its select list:
        {{ crm_link_columns(['siret', 'phone', 'name_postcode']) }}
    Key types are tried in the order given; the first one that resolves to a single CRM
    account wins. An optional override CTE (columns is_override, account_id) wins over all.
-#}

{% macro crm_link_joins(key_types, source_alias='keyed') -%}
    {%- for key_type in key_types %}
    left join {{ ref('int_accounts__match_keys') }} as match_{{ key_type }}
        on
            match_{{ key_type }}.key_type = '{{ key_type }}'
            and match_{{ key_type }}.key_value = {{ source_alias }}.{{ key_type }}_key
            {%- if key_type == 'name_postcode' %}
            -- homonyms of one postcode: house numbers, when both are known, must agree
            and (
                match_{{ key_type }}.street_number is null
                or {{ source_alias }}.street_number is null
                or match_{{ key_type }}.street_number = {{ source_alias }}.street_number
            )
            {%- endif %}
    {%- endfor %}
{%- endmacro %}


{% macro crm_link_columns(key_types, override_alias=none) -%}
    {%- set confidence = var('link_confidence') -%}
        case
            {%- if override_alias %}
            when {{ override_alias }}.is_override then {{ override_alias }}.account_id
            {%- endif %}
            {%- for key_type in key_types %}
            when match_{{ key_type }}.account_id is not null then match_{{ key_type }}.account_id
            {%- endfor %}
        end as account_id,
        case
            {%- if override_alias %}
            when {{ override_alias }}.is_override then 'override'
            {%- endif %}
            {%- for key_type in key_types %}
            when match_{{ key_type }}.account_id is not null then '{{ key_type }}'
            {%- endfor %}
            else 'unmatched'
        end as match_method,
        case
            {%- if override_alias %}
            when {{ override_alias }}.is_override and {{ override_alias }}.account_id is not null
                then {{ confidence['override'] }}
            when {{ override_alias }}.is_override then null
            {%- endif %}
            {%- for key_type in key_types %}
            when match_{{ key_type }}.account_id is not null then {{ confidence[key_type] }}
            {%- endfor %}
        end as match_confidence,
        (
            false
            {%- for i in range(key_types | length) %}
            {%- for j in range(i + 1, key_types | length) %}
            or coalesce(
                match_{{ key_types[i] }}.account_id <> match_{{ key_types[j] }}.account_id, false
            )
            {%- endfor %}
            {%- endfor %}
        ) as has_conflicting_keys,
        (
            false
            {%- for key_type in key_types %}
            or coalesce(match_{{ key_type }}.is_ambiguous, false)
            {%- endfor %}
        ) as has_ambiguous_candidates
{%- endmacro %}


{#-
    account_crosswalk(source_prefix): the account-linking engine's crosswalk rows of one
    source family (source like '<source_prefix>%'), from the dbt source
    linking.account_crosswalk (written by orchestration/linking between the staging views
    and the intermediate models). In a database built without the linking step (dbt on its
    own, a hand-made test database) the relation does not exist: an empty row set with the
    same columns is returned and the deterministic rules decide alone.
-#}
{% macro account_crosswalk(source_prefix) -%}
    {%- set relation = source('linking', 'account_crosswalk') -%}
    {%- set found = relation -%}
    {#- a unit test's fixture has no schema: use it as given -#}
    {%- if execute and relation.schema is not none and relation.identifier is not none -%}
        {%- set found = adapter.get_relation(
                database=relation.database, schema=relation.schema,
                identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if found is not none %}
    select
        source,
        source_code,
        account_id,
        match_method,
        match_rule,
        match_probability,
        evidence
    from {{ relation }}
    where source like '{{ source_prefix }}%'
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as source_code,
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as {{ dbt.type_string() }}) as match_method,
        cast(null as {{ dbt.type_string() }}) as match_rule,
        cast(null as {{ dbt.type_float() }}) as match_probability,
        cast(null as {{ dbt.type_string() }}) as evidence
    where false
    {%- endif %}
{%- endmacro %}


{#-
    linking_table(table_name, columns): every row of linking.<table_name> (a table of the
    dbt source `linking`, written by the account-linking step) with the given columns
    ({name: type}), or an empty row set with those columns when the linking step has not run
    (same fallback as account_crosswalk).
-#}
{% macro linking_table(table_name, columns) -%}
    {%- set relation = source('linking', table_name) -%}
    {%- set found = relation -%}
    {%- if execute and relation.schema is not none and relation.identifier is not none -%}
        {%- set found = adapter.get_relation(
                database=relation.database, schema=relation.schema,
                identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if found is not none %}
    select
        {%- for name in columns %}
        {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    {%- else %}
    select
        {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    where false
    {%- endif %}
{%- endmacro %}


{#- link_decision_columns(): a link model's account, method, confidence, rule and evidence,
    from its own rule when `keeps_own_decision` (an override, or a record the crosswalk
    does not cover), else from the crosswalk (crosswalk_* columns of the joined CTE). -#}
{% macro link_decision_columns() -%}
    case when keeps_own_decision then account_id else crosswalk_account_id end as account_id,
    case when keeps_own_decision then match_method else crosswalk_match_method end
        as match_method,
    case when keeps_own_decision then match_confidence else crosswalk_match_probability end
        as match_confidence,
    case when keeps_own_decision then match_method else crosswalk_match_rule end as match_rule,
    crosswalk_evidence as match_evidence
{%- endmacro %}


{#- link_result_columns(): the decision as the link models publish it, from their decided
    CTE (link_decision_columns and the key flags), with whether the record is linked. -#}
{% macro link_result_columns() -%}
    account_id,
    match_method,
    match_confidence,
    match_rule,
    match_evidence,
    has_conflicting_keys,
    has_ambiguous_candidates,
    account_id is not null as is_linked
{%- endmacro %}


{#- crosswalk_match_method(): the crosswalk's method in the link models' words - the key
    itself for a key match (siret, phone, ...), 'unmatched' for none, else the method. -#}
{% macro crosswalk_match_method() -%}
    case
        when match_method = 'key' then replace(match_rule, 'key_', '')
        when match_method = 'none' then 'unmatched'
        else match_method
    end
{%- endmacro %}


{#- crosswalk_columns(presence_column): the joined CTE's crosswalk_* columns, from a CTE named
    crosswalk left-joined on the record's identity, and keeps_own_decision (true when the
    crosswalk has no row for the record: presence_column, one of its join columns, is null). -#}
{% macro crosswalk_columns(presence_column) -%}
    crosswalk.account_id as crosswalk_account_id,
    crosswalk.match_method as crosswalk_match_method,
    crosswalk.match_rule as crosswalk_match_rule,
    crosswalk.match_probability as crosswalk_match_probability,
    crosswalk.evidence as crosswalk_evidence,
    crosswalk.{{ presence_column }} is null as keeps_own_decision
{%- endmacro %}


{#- name_postcode_keys(name_column, postcode_column, address_column): the record's
    name_postcode_key and name_postcode_number_key, built exactly as int_accounts__match_keys
    builds them on the CRM side (normalize_name, '|', postcode[, '|', house number]); null
    when a part is missing. -#}
{% macro name_postcode_keys(name_column, postcode_column, address_column) -%}
    case
        when {{ normalize_name(name_column) }} is not null and {{ postcode_column }} is not null
            then {{ dbt.concat([normalize_name(name_column), "'|'", postcode_column]) }}
    end as name_postcode_key,
    case
        when
            {{ normalize_name(name_column) }} is not null
            and {{ postcode_column }} is not null
            and {{ street_number(address_column) }} is not null
            then {{ dbt.concat([
                normalize_name(name_column), "'|'", postcode_column, "'|'", street_number(address_column)
            ]) }}
    end as name_postcode_number_key
{%- endmacro %}
