{#-
    Text normalization used by account linking. Every dialect-specific function sits behind
    adapter.dispatch with a default__ (ANSI / Postgres-like) and a duckdb__ implementation,
    so that another adapter only needs its own <adapter>__ version of these few macros.
    Patterns are written without backslash classes such as \s (they get mangled by string
    literal escaping on some engines, e.g. Spark); \b is the only escape used.
-#}

{#- regexp_replace_all(expression, pattern, replacement): replace every match of a regex. -#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'account_rtm')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}


{#- strip_accents(expression): 'Café Élysée' -> 'Cafe Elysee'. -#}
{% macro strip_accents(expression) -%}
    {{ return(adapter.dispatch('strip_accents', 'account_rtm')(expression)) }}
{%- endmacro %}

{% macro default__strip_accents(expression) -%}
    translate(
        {{ expression }},
        'àâäáãåçéèêëíìîïñóòôöõúùûüýÿÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝ',
        'aaaaaaceeeeiiiinooooouuuuyyAAAAAACEEEEIIIINOOOOOUUUUY'
    )
{%- endmacro %}

{% macro duckdb__strip_accents(expression) -%}
    strip_accents({{ expression }})
{%- endmacro %}


{#-
    normalize_name(expression): the matching form of a business name.
    lower case -> accents stripped -> every run of non [a-z0-9] characters to one space ->
    abbreviations expanded (var name_abbreviations: st -> saint, resto -> restaurant...) ->
    legal-form words (var legal_forms: sarl, sas, sa...) and articles (var name_stopwords:
    le, la, les, l) dropped -> spaces collapsed and trimmed -> empty string to null.
    "SARL Le Café de l'Étoile", "CAFE DE L'ETOILE (LE) SAS" -> "cafe de etoile".
    Dotted forms ("S.A.R.L.") become single letters and are not dropped.
-#}
{% macro normalize_name(expression) -%}
    {%- set dropped = (var('legal_forms', []) or []) + (var('name_stopwords', []) or []) -%}
    {#- a namespace, because a plain set inside a for loop does not outlive the loop -#}
    {%- set ns = namespace(sql=account_rtm.regexp_replace_all(
            account_rtm.strip_accents('lower(' ~ expression ~ ')'), '[^a-z0-9]+', ' ')) -%}
    {%- for short, long in (var('name_abbreviations', {}) or {}).items() -%}
        {%- set ns.sql = account_rtm.regexp_replace_all(ns.sql, '\\b' ~ short ~ '\\b', long) -%}
    {%- endfor -%}
    {%- if dropped | length > 0 -%}
        {%- set ns.sql = account_rtm.regexp_replace_all(
                ns.sql, '\\b(' ~ (dropped | join('|')) ~ ')\\b', ' ') -%}
    {%- endif -%}
    nullif(trim({{ account_rtm.regexp_replace_all(ns.sql, ' +', ' ') }}), '')
{%- endmacro %}


{#-
    normalize_phone(expression): French phone number as 10 digits starting with 0, or null.
    '+33 (0)4 78 12 34 56', '0033478123456', '04.78.12.34.56', '478123456' -> '0478123456'.
-#}
{% macro normalize_phone(expression) -%}
    {%- set digits = account_rtm.regexp_replace_all(expression, '[^0-9]', '') -%}
    case
        when {{ digits }} like '330%' and length({{ digits }}) = 12
            then {{ dbt.concat(["'0'", "substr(" ~ digits ~ ", 4)"]) }}
        when {{ digits }} like '0033%' and length({{ digits }}) = 13
            then {{ dbt.concat(["'0'", "substr(" ~ digits ~ ", 5)"]) }}
        when {{ digits }} like '33%' and length({{ digits }}) = 11
            then {{ dbt.concat(["'0'", "substr(" ~ digits ~ ", 3)"]) }}
        when length({{ digits }}) = 9 and {{ digits }} not like '0%'
            then {{ dbt.concat(["'0'", digits]) }}
        when length({{ digits }}) = 10 and {{ digits }} like '0%'
            then {{ digits }}
    end
{%- endmacro %}


{#- normalize_website(expression): bare host name: 'https://www.Bar-X.fr/menu' -> 'bar-x.fr'. -#}
{% macro normalize_website(expression) -%}
    {%- set host = account_rtm.regexp_replace_all(
            'lower(trim(' ~ expression ~ '))', '^([a-z]+://)?(www[0-9]?[.])?', '') -%}
    nullif({{ dbt.split_part(dbt.split_part(host, "'/'", 1), "'?'", 1) }}, '')
{%- endmacro %}


{#-
    department_code(postcode): French department of a 5-digit postcode: first two digits,
    Corsica split into 2A (200xx-201xx) / 2B (202xx-206xx), overseas (97x, 98x) on three.
-#}
{% macro department_code(postcode) -%}
    case
        when {{ postcode }} is null then null
        when {{ postcode }} like '20%'
            then case when {{ postcode }} < '20200' then '2A' else '2B' end
        when {{ postcode }} like '97%' or {{ postcode }} like '98%'
            then substr({{ postcode }}, 1, 3)
        else substr({{ postcode }}, 1, 2)
    end
{%- endmacro %}


{#-
    street_number(address): the leading house number of a street address, or null:
    '46 TER RUE EMILE COMBES' -> '46', 'route de Rive-de-Gier' -> null. Used to keep two
    homonym outlets of one postcode apart when linking by name.
-#}
{% macro street_number(address) -%}
    {{ return(adapter.dispatch('street_number', 'account_rtm')(address)) }}
{%- endmacro %}

{% macro default__street_number(address) -%}
    cast(nullif(substring({{ address }} from '^ *0*([0-9]+)'), '') as {{ dbt.type_string() }})
{%- endmacro %}

{% macro duckdb__street_number(address) -%}
    nullif(regexp_extract({{ address }}, '^ *0*([0-9]+)', 1), '')
{%- endmacro %}
