"""The records to link, read from the working database's staging views, at the grain the
crosswalk keeps: one row per distributor customer code (not per sell-out line), one per
online listing, one per external record. Each query returns the standard record columns
plus source and source_code."""

from __future__ import annotations

DISTRIBUTOR_CUSTOMERS = """
    -- one row per distributor customer code; name and address as last reported
    SELECT
        'distributor:' || distributor_id AS source,
        distributor_account_code AS source_code,
        arg_max(customer_name, sale_date) AS name,
        arg_max(customer_address, sale_date) AS address,
        arg_max(customer_postcode, sale_date) AS postcode,
        arg_max(customer_city, sale_date) AS city,
        max(customer_phone) AS phone,
        max(customer_siret) AS siret,
        NULL::VARCHAR AS website,
        NULL::DOUBLE AS latitude,
        NULL::DOUBLE AS longitude,
        count(*) AS line_count,
        sum(amount) AS amount,
        max(sale_date) AS last_sale_date
    FROM {schema}.stg_distributors__sell_out_lines
    GROUP BY distributor_id, distributor_account_code
"""

ONLINE_LISTINGS = """
    SELECT
        'online:' || platform AS source,
        listing_id AS source_code,
        listing_name AS name, address, postcode, city, phone,
        NULL::VARCHAR AS siret, website, latitude, longitude,
        NULL::BIGINT AS line_count, NULL::DOUBLE AS amount, NULL::DATE AS last_sale_date
    FROM {schema}.stg_online__listings
"""

EXTERNAL_RECORDS = """
    SELECT
        'external' AS source,
        external_id AS source_code,
        company_name AS name, address, postcode, city, NULL::VARCHAR AS phone,
        siret, NULL::VARCHAR AS website, NULL::DOUBLE AS latitude, NULL::DOUBLE AS longitude,
        NULL::BIGINT AS line_count, NULL::DOUBLE AS amount, NULL::DATE AS last_sale_date
    FROM {schema}.stg_external__firmographics
"""

CRM_ACCOUNTS = """
    SELECT
        account_id AS record_id,
        account_name AS name, address, postcode, city, phone, siret, website,
        latitude, longitude, is_active, legal_name,
        -- CRM duplicates: the active, then the oldest record is the master
        (CASE WHEN is_active THEN '0' ELSE '1' END)
            || coalesce(strftime(created_date, '%Y%m%d'), '99999999') || account_id AS tie_break
    FROM {schema}.stg_crm__accounts
"""

# source family: (query, the staging view it reads; a family whose view is missing is skipped)
SOURCES = {
    "distributor": (DISTRIBUTOR_CUSTOMERS, "stg_distributors__sell_out_lines"),
    "online": (ONLINE_LISTINGS, "stg_online__listings"),
    "external": (EXTERNAL_RECORDS, "stg_external__firmographics"),
}
