//! Who shaped a revision (I4): the facts segregation of duties is judged on, read
//! from the store for `countersign_core::sod` to decide.

use super::{lineage, AppError};
use countersign_core::sod::{Parties, Shaping};
use countersign_store::prelude::*;
use countersign_store::records::{ReleaseRecord, RevisionRecord};

/// Everyone who shaped revisions `1..=upto` of a release (I4): its creator, and each
/// revision's author, submitter and the trainer of its bound training run.
pub async fn parties(
    tx: &mut dyn Tx,
    release: &ReleaseRecord,
    upto: u32,
) -> Result<Parties, AppError> {
    let revisions = tx.list_revisions(&release.id).await?;
    parties_of(tx, release, &revisions, upto).await
}

/// [`parties`] over revisions already read.
pub async fn parties_of(
    tx: &mut dyn Tx,
    release: &ReleaseRecord,
    revisions: &[RevisionRecord],
    upto: u32,
) -> Result<Parties, AppError> {
    let mut p = Parties::new(release.decision_owner.clone());
    p.shaped(Some(&release.created_by), Shaping::Creator, 1);
    for rev in revisions.iter().filter(|r| r.number <= upto) {
        add_revision(tx, &mut p, rev).await?;
    }
    Ok(p)
}

pub async fn add_revision(
    tx: &mut dyn Tx,
    p: &mut Parties,
    rev: &RevisionRecord,
) -> Result<(), AppError> {
    let trainer = lineage::trainer_of(tx, &rev.bundle).await?;
    // Revision 1 is written by whoever creates the release: that is the creation.
    if rev.number > 1 {
        p.shaped(Some(&rev.created_by), Shaping::Author, rev.number);
    }
    p.shaped(rev.submitted_by.as_ref(), Shaping::Submitter, rev.number)
        .shaped(trainer.as_ref(), Shaping::Trainer, rev.number);
    Ok(())
}
