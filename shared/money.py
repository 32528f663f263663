"""Money arithmetic on integer VND (ISO 4217 exponent 0: no minor unit)."""

from collections.abc import Sequence


def divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("divide_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` by largest remainder: the parts add up
    to ``total`` exactly, and no part exceeds its exact share by a whole unit."""
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate takes a non-negative total and weights")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [0] * len(weights)
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(floors)
    # Ties go to the earlier line, so the result does not depend on sort stability.
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return floors


def vat_included(gross: int, vat_percent: int) -> int:
    """The VAT part of a VAT-inclusive ``gross`` amount, rounded half up."""
    return divide_half_up(gross * vat_percent, 100 + vat_percent)
