import pytest

from recsys.catalog.text import TOTAL_BUDGET, product_text, title_text, vector_text


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


def test_a_vector_embeds_the_product_text_its_space_names() -> None:
    product = {"title": "  ALARM CLOCK   BAKELIKE RED ", "category": "Home > Clocks"}
    # THEN the full text by default, the title alone (normalised) for "title"
    assert vector_text(None, product) == product_text(product)
    assert vector_text("title", product) == title_text(product) == "ALARM CLOCK BAKELIKE RED"
    # AND a product without a title falls back to its full text; an unknown text is an error
    assert title_text({"category": "Home > Clocks"}) == "Home > Clocks"
    with pytest.raises(ValueError, match="no product text named"):
        vector_text("summary", product)
