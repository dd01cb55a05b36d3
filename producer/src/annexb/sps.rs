//! H.264 sequence parameter set parsing (H.264 §7.3.2.1.1, §7.4.2.1.1): just
//! enough to fill `avcC` and the Matroska video size.

use super::AnnexBError;
use super::bits::{BitReader, rbsp};

/// An SPS is tens of bytes; the fields we need end well before the VUI. Reading
/// a bounded prefix keeps a hostile multi-megabyte "SPS" from costing memory.
const SPS_PARSE_LIMIT: usize = 4096;

/// The parts of an H.264 SPS the producer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, 110 High 10, 122 High 4:2:2, 244 High 4:4:4).
    pub profile_idc: u8,
    /// The byte of `constraint_set0..5_flag` + reserved bits (`avcC` profile_compatibility).
    pub constraint_flags: u8,
    /// `level_idc` (e.g. 31 for level 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub id: u32,
    /// `chroma_format_idc` (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4).
    pub chroma_format_idc: u32,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u32,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width in pixels after cropping.
    pub width: u32,
    /// Displayed height in pixels after cropping (frames, not fields).
    pub height: u32,
}

/// Profiles whose SPS carries chroma format, bit depth and scaling lists
/// (the `if( profile_idc == 100 || … )` branch of §7.3.2.1.1).
fn has_high_profile_fields(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// `scaling_list()` (§7.3.2.1.1.1): parsed only to skip it correctly.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), AnnexBError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(AnnexBError::Syntax {
                    what: "SPS",
                    reason: format!("delta_scale {delta} outside -128..=127"),
                });
            }
            next_scale = (last_scale + delta + 256).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

impl Sps {
    /// Parses an SPS NAL unit (including its one-byte NAL header).
    pub fn parse(nal: &[u8]) -> Result<Self, AnnexBError> {
        let data = rbsp(nal, SPS_PARSE_LIMIT);
        if data.len() < 4 {
            return Err(AnnexBError::Syntax {
                what: "SPS",
                reason: format!("{} bytes is too short", data.len()),
            });
        }
        let (profile_idc, constraint_flags, level_idc) = (data[1], data[2], data[3]);
        let mut r = BitReader::new(&data[4..], "SPS");
        let id = r.ue_max("seq_parameter_set_id", 31)?;
        let (mut chroma_format_idc, mut separate_colour_plane) = (1, false);
        let (mut bit_depth_luma_minus8, mut bit_depth_chroma_minus8) = (0, 0);
        if has_high_profile_fields(profile_idc) {
            chroma_format_idc = r.ue_max("chroma_format_idc", 3)?;
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            bit_depth_luma_minus8 = r.ue_max("bit_depth_luma_minus8", 6)?;
            bit_depth_chroma_minus8 = r.ue_max("bit_depth_chroma_minus8", 6)?;
            let _qpprime_y_zero_transform_bypass = r.bit()?;
            if r.bit()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num_minus4 = r.ue_max("log2_max_frame_num_minus4", 12)?;
        match r.ue_max("pic_order_cnt_type", 2)? {
            0 => {
                r.ue_max("log2_max_pic_order_cnt_lsb_minus4", 12)?;
            }
            1 => {
                let _delta_pic_order_always_zero = r.bit()?;
                let _offset_for_non_ref_pic = r.se()?;
                let _offset_for_top_to_bottom_field = r.se()?;
                let cycle = r.ue_max("num_ref_frames_in_pic_order_cnt_cycle", 255)?;
                for _ in 0..cycle {
                    r.se()?;
                }
            }
            _ => {}
        }
        let _max_num_ref_frames = r.ue()?;
        let _gaps_in_frame_num_value_allowed = r.bit()?;
        // 8192 pixels = 512 macroblocks wide/high covers level 6.2; larger is hostile.
        let width_mbs = r.ue_max("pic_width_in_mbs_minus1", 1023)? + 1;
        let height_map_units = r.ue_max("pic_height_in_map_units_minus1", 1023)? + 1;
        let frame_mbs_only = r.bit()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = r.bit()?;
        }
        let _direct_8x8_inference = r.bit()?;
        let crop = if r.bit()? {
            [r.ue()?, r.ue()?, r.ue()?, r.ue()?]
        } else {
            [0; 4]
        };
        // §7.4.2.1.1, equations 7-19..7-22: crop units depend on ChromaArrayType
        // and on whether pictures are coded as fields.
        let field_factor: u32 = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y): (u32, u32) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let full_w = width_mbs * 16;
        let full_h = height_map_units * 16 * field_factor;
        let crop_w = u64::from(crop[0]) + u64::from(crop[1]);
        let crop_h = u64::from(crop[2]) + u64::from(crop[3]);
        let crop_w = crop_w * u64::from(crop_unit_x);
        let crop_h = crop_h * u64::from(crop_unit_y);
        if crop_w >= u64::from(full_w) || crop_h >= u64::from(full_h) {
            return Err(AnnexBError::Syntax {
                what: "SPS",
                reason: format!(
                    "cropping ({crop_w}×{crop_h}) removes the whole {full_w}×{full_h} picture"
                ),
            });
        }
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            id,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: full_w - crop_w as u32,
            height: full_h - crop_h as u32,
        })
    }
}
