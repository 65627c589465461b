from recsys.catalog.text import TOTAL_BUDGET, product_text


def test_product_text_orders_fields_and_skips_missing() -> None:
    # GIVEN a product with a category path, tags as a ";" list and no brand
    product = {
        "title": "  White  hanging heart T-light holder ",
        "category": "Home>Candles > Holders",
        "description": "Metal heart",
        "tags": "gift; white ;",
    }
    # WHEN its embedding text is built
    text = product_text(product)
    # THEN fields come in order, whitespace normalised, empty parts dropped
    assert text == (
        "White hanging heart T-light holder. Home > Candles > Holders. Metal heart. gift, white"
    )


def test_product_text_budget_keeps_title_when_description_is_huge() -> None:
    text = product_text({"title": "Lamp", "description": "word " * 10_000, "tags": ["a", "b"]})
    assert text.startswith("Lamp. ")
    assert len(text) <= TOTAL_BUDGET


def test_product_text_of_empty_product_is_empty() -> None:
    assert product_text({}) == ""
