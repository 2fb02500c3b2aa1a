package dev.clickstream.generator;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks product ids 1..n: uniformly, or Zipf-distributed with exponent s (product k has weight 1/k^s, so product 1
 * is the most popular). Sampling is a binary search in a precomputed cumulative table: O(log n) per click.
 */
final class ProductPopularity {
  private final double[] cumulative;

  ProductPopularity(int products, double zipfExponent) {
    cumulative = new double[products];
    double sum = 0;
    for (int k = 1; k <= products; k++) {
      sum += zipfExponent == 0 ? 1.0 : 1.0 / Math.pow(k, zipfExponent);
      cumulative[k - 1] = sum;
    }
    for (int i = 0; i < products; i++) {
      cumulative[i] /= sum;
    }
    cumulative[products - 1] = 1.0;
  }

  long sample(SplittableRandom random) {
    int i = Arrays.binarySearch(cumulative, random.nextDouble());
    return 1 + (i >= 0 ? i : -i - 1);
  }
}
