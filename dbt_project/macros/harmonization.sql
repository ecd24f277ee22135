{#-
    Unit and currency harmonization of sales lines (sell-in and sell-out).

    quantity_in_bottles(quantity, unit, bottles_per_case, bottle_size_l): the line's
    quantity in bottles: bottle as is, case x bottles_per_case, litre / bottle_size_l;
    null for any other unit (or when the product is unknown), so that an unknown unit is
    flagged (is_unit_known) instead of being counted as bottles.

    fx_rate(currency): rate from the currency of an amount to the company currency, from var
    fx_rates_to_company_currency ({EUR: 1.0, USD: 0.92, ...}; the company currency, var
    company_currency, is always 1). Null for a currency without a rate: the converted amount
    is then null and the line flagged (is_currency_known), never silently counted as company
    currency.
-#}

{% macro quantity_in_bottles(quantity, unit, bottles_per_case, bottle_size_l) -%}
    case
        when {{ unit }} = 'bottle' then {{ quantity }}
        when {{ unit }} = 'case' then {{ quantity }} * {{ bottles_per_case }}
        when {{ unit }} = 'litre' then {{ quantity }} / nullif({{ bottle_size_l }}, 0)
    end
{%- endmacro %}


{% macro fx_rate(currency) -%}
    {%- set company_currency = var('company_currency', 'EUR') | upper -%}
    {%- set rates = var('fx_rates_to_company_currency', {}) or {} -%}
    case upper(trim({{ currency }}))
        when '{{ company_currency }}' then 1.0
        {%- for code, rate in rates.items() if (code | upper) != company_currency %}
            {%- if rate is not number or rate <= 0 %}
                {{ exceptions.raise_compiler_error(
                    "fx_rates_to_company_currency: the rate of " ~ code
                    ~ " must be a positive number, got " ~ rate) }}
            {%- endif %}
        when '{{ code | upper }}' then {{ rate }}
        {%- endfor %}
    end
{%- endmacro %}
