//! SplitMix64: the exact values below were computed on the host, so every target that passes
//! draws the same jitter bit for bit.

use core::hint::black_box;

use stanchion::rng::{draw, mix, uniform, SplitMix64, GOLDEN_GAMMA};

tests! {
    fn mix_matches_the_reference_values() {
        assert_eq!(mix(black_box(0)), 0);
        assert_eq!(mix(black_box(1)), 0x5692_161D_100B_05E5);
        assert_eq!(mix(black_box(u64::MAX)), 0xB4D0_55FC_F2CB_BD7B);
        assert_eq!(mix(black_box(GOLDEN_GAMMA)), 0xE220_A839_7B1D_CDAF);
    }

    fn draw_matches_the_reference_stream() {
        let seed_0 = [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F];
        let seed_42 = [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103, 0x4752_6757_130F_9F52];
        let seed_max = [0xE4D9_7177_1B65_2C20, 0xE99F_F867_DBF6_82C9, 0x382F_F84C_B272_81E9];
        for (seed, expected) in [(0, seed_0), (42, seed_42), (u64::MAX, seed_max)] {
            for (index, value) in expected.into_iter().enumerate() {
                assert_eq!(draw(black_box(seed), index as u64), value, "seed {seed} index {index}");
            }
        }
        // The index wraps like the stream's counter: draw u64::MAX adds 2^64 gammas, i.e. none.
        assert_eq!(draw(black_box(0), u64::MAX), 0);
        assert_eq!(draw(black_box(7), 1 << 40), 0x9DB2_0060_659A_B50C);
    }

    fn the_generator_yields_the_draw_sequence() {
        for seed in [0, 42, u64::MAX] {
            let mut generator = SplitMix64::new(black_box(seed));
            for index in 0..8 {
                assert_eq!(generator.next_u64(), draw(seed, index));
            }
        }
    }

    fn uniform_maps_bits_into_the_range() {
        let bits = draw(black_box(42), 0);
        assert_eq!(uniform(bits, 0, u64::MAX), 13_679_457_532_755_275_413);
        assert_eq!(uniform(bits, 10, 20), 18);
        assert_eq!(uniform(bits, 1_000, 1_000_000_000), 741_565_137);
        assert_eq!(uniform(black_box(u64::MAX), 0, u64::MAX), u64::MAX);
        assert_eq!(uniform(black_box(u64::MAX), 5, 9), 9);
        assert_eq!(uniform(black_box(0), 5, 9), 5);
        assert_eq!(uniform(bits, 9, 5), 9); // an empty range gives `lo`
        let percentiles = [56, 74, 97, 44, 44, 76, 87, 52];
        for (index, expected) in percentiles.into_iter().enumerate() {
            assert_eq!(uniform(draw(black_box(1), index as u64), 0, 99), expected);
        }
    }
}
